"""Processes the benchmarks drive: the daemon, the bare baseline, load generators, wrk."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _env(repo: Path = REPO) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class Child:
    """A child process stopped by SIGTERM (then SIGKILL) and only by its own pid.

    ``repo`` is the checkout whose code it runs (another one to compare two versions)."""

    def __init__(self, args: list[str], log_path: Path, repo: Path = REPO) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(repo),
            cwd=str(repo),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode or 0)


class BenchDaemon(Child):
    """``bench.daemon_main``: the real Daemon in a subprocess, with its stats port."""

    def __init__(
        self,
        config_path: Path,
        *,
        watcher: bool = False,
        timeout: float = 60.0,
        repo: Path = REPO,
    ) -> None:
        self.ready = config_path.parent / f"ready-{time.monotonic_ns()}.json"
        args = [sys.executable, "-m", "bench.daemon_main", str(config_path), str(self.ready)]
        super().__init__(
            args + (["--watcher"] if watcher else []), config_path.parent / "daemon.log", repo
        )
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if not self.alive():
                raise RuntimeError("daemon exited: " + self.log_path.read_text()[-2000:])
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("daemon did not become ready")
            time.sleep(0.05)
        info = json.loads(self.ready.read_text())
        self.rpc_url = f"http://127.0.0.1:{info['rpc_port']}"
        self.public_url = f"http://127.0.0.1:{info['public_port']}"
        self.stats_url = f"http://127.0.0.1:{info['stats_port']}/stats"

    def stats(self) -> dict[str, Any]:
        """Commits, chain head and memory of the daemon right now."""
        with urllib.request.urlopen(self.stats_url, timeout=10) as resp:
            data: dict[str, Any] = json.loads(resp.read())
        return data


class BareServer(Child):
    """``bench.bare``: the constant-body aiohttp baseline (``extra``: a ladder mode)."""

    def __init__(
        self, port: int, body_file: Path, log_dir: Path, extra: tuple[str, ...] = ()
    ) -> None:
        super().__init__(
            [sys.executable, "-m", "bench.bare", str(port), str(body_file), *extra],
            log_dir / "bare.log",
        )
        self.url = f"http://127.0.0.1:{port}"
        _wait_port(port)


async def loadgen(
    mode: str,
    base: str,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    ids_file: Path | None = None,
) -> dict[str, Any]:
    """Run ``bench.loadgen`` in its own process and return its summary."""
    args = [
        sys.executable,
        "-m",
        "bench.loadgen",
        mode,
        base,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
    ]
    if ids_file is not None:
        args += ["--ids", str(ids_file)]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=str(REPO)
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


_WRK_SCRIPT = """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
math.randomseed(%d)
request = function()
  return wrk.format("GET", "/" .. ids[math.random(#ids)] .. "/status.json")
end
"""


def wrk_available() -> bool:
    """Whether the wrk binary is installed (Debian package ``wrk``)."""
    return shutil.which("wrk") is not None


def _wrk_time(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unknown wrk time {text!r}")
    factor = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[match.group(2)]
    return float(match.group(1)) * factor


def parse_wrk(output: str, duration: float) -> dict[str, Any]:
    """requests/s, non-2xx count and latency percentiles (ms) from ``wrk --latency``."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE))
    if rps is None or total is None:
        raise ValueError("could not read wrk's output:\n" + output)
    return {
        "requests": int(total.group(1)),
        "rps": float(rps.group(1)),
        "seconds": duration,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "p50_ms": _wrk_time(pct["50"]) if "50" in pct else None,
        "p90_ms": _wrk_time(pct["90"]) if "90" in pct else None,
        "p99_ms": _wrk_time(pct["99"]) if "99" in pct else None,
    }


async def wrk(
    base: str, ids_file: Path, *, concurrency: int, duration: float, threads: int = 1
) -> dict[str, Any]:
    """Run wrk with a Lua script drawing random ids from ``ids_file``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % (ids_file, 6))
    try:
        proc = await asyncio.create_subprocess_exec(
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "-s",
            script.name,
            base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
    finally:
        os.unlink(script.name)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {err.decode()[-1000:]}")
    return parse_wrk(out.decode(), duration)
