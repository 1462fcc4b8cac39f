"""``xbtcpay dev``: the daemon on a local anvil with a freshly deployed test 0xBTC.

``xbtcpay dev`` starts anvil (one block per second), deploys the test token from the
repository's compiled artifact, writes ``var/dev-config.yaml`` (dev xpub, deposit indexes
from 10), starts a small postback receiver that prints what it gets, runs the daemon and
prints how to try it, then each new payment's checkout page URL. ``--anvil-port``,
``--rpc-listen`` and ``--public-listen`` move the dev chain and the two ports.

``xbtcpay dev pay ID [AMOUNT]`` pays a payment with test tokens. It finds the dev chain from
``-c`` when that is the written ``var/dev-config.yaml`` (from any folder), else from
``var/dev-state.json`` in the current folder or beside the ``-c`` config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from xbtcpay.app.config import parse_config
from xbtcpay.app.logs import configure_logging
from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil, free_port
from xbtcpay.chain.client import ChainClient
from xbtcpay.core.amounts import parse_amount, to_base_units
from xbtcpay.core.errors import ConfigError
from xbtcpay.core.models import Payment
from xbtcpay.core.postback import SIGNATURE_HEADER, verify

VAR = Path("var")
STATE = VAR / "dev-state.json"
DEV_SECRET = "dev-postback-secret-change-me"  # noqa: S105 - the dev chain's, printed on start


@dataclass(frozen=True)
class DevOptions:
    """Where ``xbtcpay dev`` puts the dev chain and the daemon's two ports (None: default)."""

    anvil_port: int | None = None
    rpc_listen: str | None = None
    public_listen: str | None = None


def dev_main(args: argparse.Namespace) -> int:
    config = Path(args.config) if getattr(args, "config", None) else None
    if args.action == "pay":
        if not args.args or len(args.args) > 2:
            print("usage: xbtcpay dev pay PAYMENT_ID [AMOUNT]")
            return 2
        return asyncio.run(
            pay(args.args[0], args.args[1] if len(args.args) > 1 else None, config=config)
        )
    options = DevOptions(
        getattr(args, "anvil_port", None),
        getattr(args, "rpc_listen", None),
        getattr(args, "public_listen", None),
    )
    VAR.mkdir(exist_ok=True)
    for stale in VAR.glob("dev.db*"):
        stale.unlink()  # a fresh chain needs a fresh database
    return asyncio.run(run_dev(config or Path("config.yaml"), options))


def _dev_config(
    base: Path, anvil_url: str, token: str, options: DevOptions = DevOptions()
) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(base.read_text()) if base.exists() else {}
    raw["database"] = f"sqlite:///{(VAR / 'dev.db').resolve()}"
    raw.setdefault("rpc", {})["listen"] = raw.get("rpc", {}).get("listen", "127.0.0.1:8889")
    raw.setdefault("public", {}).setdefault("listen", "0.0.0.0:8888")
    if options.rpc_listen:
        raw["rpc"]["listen"] = options.rpc_listen
    if options.public_listen:
        raw["public"]["listen"] = options.public_listen
        raw["public"].pop("base_url", None)  # derived from the new listen address
    raw["chain"] = {
        **raw.get("chain", {}),
        "rpc_urls": [anvil_url],
        "chain_id": 31337,
        "start_block": 0,
        "poll_interval": 0.5,
        "confirmations": 3,
    }
    raw["assets"] = {
        "0xbtc": {"contract": token, "decimals": 8, "max_amount": "20999984", "symbol": "0xBTC"},
        "eth": {"native": True, "decimals": 18},
    }
    raw["default_asset"] = "0xbtc"
    raw["wallet"] = {"xpub": devchain.dev_xpub(), "first_index": 10}
    # the dev receiver listens on loopback
    raw["postback"] = {**raw.get("postback", {}), "secret": DEV_SECRET, "allow_private": True}
    raw["log"] = {"level": "info", "format": "console"}
    return raw


async def _receiver() -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        ok = verify(DEV_SECRET, body, request.headers.get(SIGNATURE_HEADER, ""))
        doc = json.loads(body)
        print(
            f"\n>>> POSTBACK {doc.get('event')} for {doc.get('id')} "
            f"(signature {'valid' if ok else 'INVALID'}): {body}\n",
            flush=True,
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/postback", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/postback"


async def run_dev(base_config: Path, options: DevOptions = DevOptions()) -> int:
    from xbtcpay.app.daemon import Daemon

    configure_logging("info", "console")
    port = options.anvil_port
    if port is None:
        port = 8545 if _port_free(8545) else None
    elif not _port_free(port):
        print(f"--anvil-port {port}: that port is in use")
        return 2
    anvil = Anvil(port=port, block_time=1)
    anvil.start()
    runner = None
    try:
        async with ChainClient([anvil.url]) as client:
            token = await devchain.deploy(
                client, "TestZeroXBitcoin", devchain.dev_key(0), [devchain.TOKEN_SUPPLY]
            )
        raw = _dev_config(base_config, anvil.url, token, options)
        path = VAR / "dev-config.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        config = parse_config(raw, path.resolve())
        runner, receiver_url = await _receiver()
        daemon = Daemon(config)
        await daemon.start()
        assert daemon.parts is not None
        daemon.parts.feed.on_payment(_page_announcer(config.public.base_url))
        private = f"http://127.0.0.1:{daemon.rpc_port}"
        STATE.write_text(
            json.dumps(
                {
                    "anvil": anvil.url,
                    "token": token,
                    "rpc": private,
                    "public": config.public.base_url,
                }
            )
        )
        _instructions(
            private, config.public.base_url, receiver_url, token, anvil.url, path.resolve()
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await daemon.stop()
    finally:
        if runner is not None:
            await runner.cleanup()
        anvil.stop()
    return 0


def _page_announcer(public: str) -> Callable[[Payment, str], None]:
    """A change-feed listener printing each new payment's checkout page."""

    def announce(payment: Payment, event: str) -> None:
        if event == "created":
            print(
                f"\n>>> PAYMENT {payment.id} for {payment.amount} {payment.asset}: "
                f"checkout page {public}/pay/{payment.id}\n",
                flush=True,
            )

    return announce


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _instructions(
    private: str, public: str, receiver: str, token: str, anvil: str, dev_config: Path
) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "start_payment",
            "params": {"amount": "1.5", "data": {"order_id": "42"}, "postback_url": receiver},
        }
    )
    print(
        f"""
xbtcpay dev is running.
  dev chain (anvil): {anvil}   test 0xBTC: {token}
  private JSON-RPC:  {private}/   public: {public}
  postbacks print here (receiver {receiver})

Try it (in another terminal):
  curl -s -X POST -H 'Content-Type: application/json' -d '{body}' {private}/
  open {public}/pay/<payment id>                   # the checkout page (printed for each new payment)
  curl -s {public}/<payment id>/status.json
  .venv/bin/xbtcpay dev pay <payment id>          # sends the test tokens; paid after 3 blocks
  (from another folder: xbtcpay -c {dev_config} dev pay <payment id>)

Dashboard: {private}/admin/
  first create a user (the password is read from stdin, at least 12 characters):
  .venv/bin/xbtcpay -c {dev_config} admin create-user admin --role admin
Ctrl-C stops everything.
""",
        flush=True,
    )


def dev_state(config: Path | None) -> dict[str, str] | None:
    """Where the dev chain and daemon are: from ``config`` when it is a dev config (chain,
    token and ports all in it), else from a ``var/dev-state.json`` here or beside it."""
    if config is not None and config.exists():
        raw = yaml.safe_load(config.read_text())
        state = _state_of(config, raw) if isinstance(raw, dict) else None
        if state is not None:
            return state
    for candidate in [STATE] + ([config.resolve().parent / STATE] if config else []):
        if candidate.exists():
            return dict(json.loads(candidate.read_text()))
    return None


def _state_of(path: Path, raw: dict[str, Any]) -> dict[str, str] | None:
    chain = raw.get("chain") or {}
    token = ((raw.get("assets") or {}).get("0xbtc") or {}).get("contract")
    if chain.get("chain_id") != 31337 or not chain.get("rpc_urls") or not token:
        return None
    try:
        config = parse_config(raw, path.resolve())
    except ConfigError:
        return None
    host = config.rpc.listen.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    return {
        "anvil": config.chain.rpc_urls[0],
        "token": str(token),
        "rpc": f"http://{host}:{config.rpc.listen.port}",
        "public": config.public.base_url,
    }


async def pay(payment_id: str, amount_text: str | None, config: Path | None = None) -> int:
    state = dev_state(config)
    if state is None:
        print(
            "no dev chain found: start it with `xbtcpay dev` (or `make run`), then run"
            " `xbtcpay dev pay` in the same folder or with -c var/dev-config.yaml"
        )
        return 1
    async with aiohttp.ClientSession() as session:
        body = {"jsonrpc": "2.0", "id": 1, "method": "get_payment", "params": {"id": payment_id}}
        async with session.post(state["rpc"] + "/", json=body) as resp:
            reply = await resp.json()
    if "error" in reply:
        print(f"cannot pay: {reply['error']['message']}")
        return 1
    payment = reply["result"]
    decimals = 18 if payment["asset"] == "eth" else 8
    due = Decimal(payment["amount"]) - Decimal(payment["amount_received"])
    amount = (
        due
        if amount_text is None
        else parse_amount(amount_text, decimals=decimals, max_amount=None)
    )
    if amount is None or amount <= 0:
        print("give a positive amount (the payment is already covered)")
        return 2
    async with ChainClient([state["anvil"]]) as client:
        if payment["asset"] == "eth":
            tx = await devchain.send_eth(
                client, payment["address"], to_base_units(amount, decimals), devchain.dev_key(1)
            )
        else:
            tx = await devchain.send_tokens(
                client,
                state["token"],
                payment["address"],
                to_base_units(amount, decimals),
                devchain.dev_key(0),
            )
        await devchain.wait_receipt(client, tx)
    print(f"sent {amount} {payment['asset']} to {payment['address']} in {tx}")
    print(f"watch it: curl -s {state['public']}/{payment_id}/status.json")
    return 0
