"""``python -m bench.daemon_main CONFIG READY_FILE [--watcher]``: the real Daemon, observed.

Runs ``xbtcpay.app.daemon.Daemon`` exactly as the product does (SQLite FULL, WAL, group commit)
and, beside it on its own loopback port, a stats endpoint the benchmarks read: database
commits so far, VmRSS/VmHWM, watcher state. The ports are written to READY_FILE as JSON once
the daemon is ready. SIGTERM/SIGINT stop it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

from aiohttp import web

from bench.procs import proc_memory
from xbtcpay.app.config import load_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.app.logs import configure_logging


async def _main(config_path: Path, ready: Path, watcher: bool) -> None:
    config = load_config(config_path)
    configure_logging(config.log.level, config.log.format, final=True)  # as ``xbtcpay run``
    daemon = Daemon(config, watcher=watcher)
    await daemon.start()

    async def stats(request: web.Request) -> web.Response:
        rt = daemon.parts
        assert rt is not None
        return web.json_response(
            {
                "commits": rt.db.commits,
                "chain_head": rt.head.number,
                "memory_kb": proc_memory(os.getpid()),
            }
        )

    app = web.Application()
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stats_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "rpc_port": daemon.rpc_port,
                "public_port": daemon.public_port,
                "stats_port": stats_port,
            }
        )
    )
    tmp.rename(ready)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await daemon.stop()


def main() -> None:
    """Parse the command line and run; XBTCPAY_BENCH_PROFILE=DIR writes a cProfile there."""
    parser = argparse.ArgumentParser(prog="python -m bench.daemon_main")
    parser.add_argument("config", type=Path)
    parser.add_argument("ready", type=Path)
    parser.add_argument("--watcher", action="store_true")
    args = parser.parse_args()
    profile_dir = os.environ.get("XBTCPAY_BENCH_PROFILE")
    if not profile_dir:
        asyncio.run(_main(args.config, args.ready, args.watcher))
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(_main(args.config, args.ready, args.watcher))
    finally:
        profiler.disable()
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(Path(profile_dir) / f"daemon-{os.getpid()}.prof")


if __name__ == "__main__":
    main()
