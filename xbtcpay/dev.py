"""``xbtcpay dev``: the daemon on a local anvil with a freshly deployed test 0xBTC.

``xbtcpay dev`` starts anvil (one block per second), deploys the test token from the
repository's compiled artifact, writes ``var/dev-config.yaml`` (dev xpub, deposit indexes
from 10), starts a small postback receiver that prints what it gets, runs the daemon and
prints how to try it, then each new payment's checkout page URL.
``xbtcpay dev pay ID [AMOUNT]`` pays a payment with test tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from xbtcpay.amounts import parse_amount, to_base_units
from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil, free_port
from xbtcpay.chain.client import ChainClient
from xbtcpay.config import parse_config
from xbtcpay.logs import configure_logging
from xbtcpay.models import Payment
from xbtcpay.postback import SIGNATURE_HEADER, verify

VAR = Path("var")
STATE = VAR / "dev-state.json"
DEV_SECRET = "dev-postback-secret-change-me"


def dev_main(args: argparse.Namespace) -> int:
    if args.action == "pay":
        if not args.args or len(args.args) > 2:
            print("usage: xbtcpay dev pay PAYMENT_ID [AMOUNT]")
            return 2
        return asyncio.run(pay(args.args[0], args.args[1] if len(args.args) > 1 else None))
    return asyncio.run(run_dev(Path(args.config) if args.config else Path("config.yaml")))


def _dev_config(base: Path, anvil_url: str, token: str) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(base.read_text()) if base.exists() else {}
    raw["database"] = f"sqlite:///{(VAR / 'dev.db').resolve()}"
    raw.setdefault("rpc", {})["listen"] = raw.get("rpc", {}).get("listen", "127.0.0.1:8889")
    raw.setdefault("public", {}).setdefault("listen", "0.0.0.0:8888")
    raw["chain"] = {**raw.get("chain", {}), "rpc_urls": [anvil_url], "chain_id": 31337,
                    "start_block": 0, "poll_interval": 0.5, "confirmations": 3}
    raw["assets"] = {"0xbtc": {"contract": token, "decimals": 8, "max_amount": "20999984",
                               "symbol": "0xBTC"},
                     "eth": {"native": True, "decimals": 18}}
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
        print(f"\n>>> POSTBACK {doc.get('event')} for {doc.get('id')} "
              f"(signature {'valid' if ok else 'INVALID'}): {body}\n", flush=True)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/postback", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/postback"


async def run_dev(base_config: Path) -> int:
    from xbtcpay.app import Daemon

    configure_logging("info", "console")
    VAR.mkdir(exist_ok=True)
    for stale in VAR.glob("dev.db*"):
        stale.unlink()  # a fresh chain needs a fresh database
    anvil = Anvil(port=8545 if _port_free(8545) else None, block_time=1)
    anvil.start()
    runner = None
    try:
        async with ChainClient([anvil.url]) as client:
            token = await devchain.deploy(client, "TestZeroXBitcoin", devchain.dev_key(0),
                                          [devchain.TOKEN_SUPPLY])
        raw = _dev_config(base_config, anvil.url, token)
        path = VAR / "dev-config.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        config = parse_config(raw, path.resolve())
        runner, receiver_url = await _receiver()
        daemon = Daemon(config)
        await daemon.start()
        assert daemon.runtime is not None
        daemon.runtime.feed.on_payment(_page_announcer(config.public.base_url))
        private = f"http://127.0.0.1:{daemon.rpc_port}"
        STATE.write_text(json.dumps({"anvil": anvil.url, "token": token, "rpc": private,
                                     "public": config.public.base_url}))
        _instructions(private, config.public.base_url, receiver_url, token, anvil.url)
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
            print(f"\n>>> PAYMENT {payment.id} for {payment.amount} {payment.asset}: "
                  f"checkout page {public}/pay/{payment.id}\n", flush=True)
    return announce


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _instructions(private: str, public: str, receiver: str, token: str, anvil: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "start_payment",
                       "params": {"amount": "1.5", "data": {"order_id": "42"},
                                  "postback_url": receiver}})
    print(f"""
xbtcpay dev is running.
  dev chain (anvil): {anvil}   test 0xBTC: {token}
  private JSON-RPC:  {private}/   public: {public}
  postbacks print here (receiver {receiver})

Try it (in another terminal):
  curl -s -X POST -H 'Content-Type: application/json' -d '{body}' {private}/
  open {public}/pay/<payment id>                   # the checkout page (printed for each new payment)
  curl -s {public}/<payment id>/status.json
  .venv/bin/xbtcpay dev pay <payment id>          # sends the test tokens; paid after 3 blocks
Ctrl-C stops everything.
""", flush=True)


async def pay(payment_id: str, amount_text: str | None) -> int:
    if not STATE.exists():
        print("no dev chain is running here (start it with `xbtcpay dev` or `make run`)")
        return 1
    state = json.loads(STATE.read_text())
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
    amount = due if amount_text is None else parse_amount(amount_text, decimals=decimals,
                                                          max_amount=None)
    if amount is None or amount <= 0:
        print("give a positive amount (the payment is already covered)")
        return 2
    async with ChainClient([state["anvil"]]) as client:
        if payment["asset"] == "eth":
            tx = await devchain.send_eth(client, payment["address"], to_base_units(amount, decimals),
                                         devchain.dev_key(1))
        else:
            tx = await devchain.send_tokens(client, state["token"], payment["address"],
                                            to_base_units(amount, decimals), devchain.dev_key(0))
        await devchain.wait_receipt(client, tx)
    print(f"sent {amount} {payment['asset']} to {payment['address']} in {tx}")
    print(f"watch it: curl -s {state['public']}/{payment_id}/status.json")
    return 0
