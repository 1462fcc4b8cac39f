"""The ``sweep`` and ``funds`` subcommands of ``xbtcpay``: argument parsing and printing.

The planning, checking and sending they drive live in ``xbtcpay.sweep``; this module only
opens the database and the node from the config and reports to the operator.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from xbtcpay.app.config import Config
from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.watcher import http_urls
from xbtcpay.core.errors import ChainError
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.engines import open_engine
from xbtcpay.sweep.errors import SweepRefused
from xbtcpay.sweep.plan import (
    GAS_STATION,
    SignedPlan,
    plan_from_json,
    plan_to_json,
    read_json,
    signed_from_json,
    signed_to_json,
    write_json,
)
from xbtcpay.sweep.planner import estimated_gas
from xbtcpay.sweep.records import CONFIRMED, SweepStore
from xbtcpay.sweep.send import Pending, Sender


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``sweep deploy|plan|sign|send`` and ``funds`` to the top-level parser."""
    sweep = sub.add_parser(
        "sweep", help="sweep received funds to the treasury (EIP-7702)", parents=[common]
    )
    ssub = sweep.add_subparsers(dest="action", required=True)
    deploy = ssub.add_parser(
        "deploy", help="deploy the delegate and batch contracts from the gas wallet"
    )
    deploy.add_argument("--chain", help=CHAIN_HELP)
    plan = ssub.add_parser("plan", help="list what can be swept into a plan file")
    plan.add_argument("--asset")
    plan.add_argument("--chain", help=CHAIN_HELP + " (default: the chain of --asset)")
    plan.add_argument("--min", help="skip addresses holding less than this amount")
    plan.add_argument(
        "--gas-station",
        action="store_true",
        help="for chains without EIP-7702: top up gas, sign plain transfers",
    )
    plan.add_argument("-o", "--output", required=True)
    sign = ssub.add_parser("sign", help="sign a plan offline with the mnemonic")
    sign.add_argument("plan")
    sign.add_argument("--mnemonic-file", help="file holding the mnemonic (default: stdin)")
    sign.add_argument("--treasury", help="refuse unless the plan pays this treasury")
    sign.add_argument("--yes", action="store_true", help="do not ask before signing")
    sign.add_argument("-o", "--output", required=True)
    send = ssub.add_parser("send", help="submit a signed plan from the gas wallet")
    send.add_argument("signed")
    send.add_argument("--dry-run", action="store_true", help="estimate gas and cost only")
    send.add_argument("--chain", help=CHAIN_HELP + " (default: the chain id of the plan)")
    funds = sub.add_parser(
        "funds", help="received, swept, unswept funds and the gas runway", parents=[common]
    )
    funds.add_argument("--json", action="store_true")
    funds.add_argument("--chain", help=CHAIN_HELP)


CHAIN_HELP = "the chain (a name of chains:) to work on; default: the default asset's"


def for_chain(
    config: Config, name: str | None, *, asset: str | None = None, chain_id: int | None = None
) -> Config:
    """The configuration as a sweep of one chain reads it: that chain's node and chain id,
    the assets on it, and its batch (``sweep.chains.<name>``; the top-level ``batch`` is the
    primary chain's). The primary chain without an entry there: the configuration itself."""
    if name is not None:
        if name not in config.chains:
            raise SweepRefused(f"unknown chain {name!r}: one of {', '.join(config.chains)}")
        chain = config.chains[name]
    elif asset is not None and config.chain_of(asset) is not None:
        chain = config.chain_of(asset) or config.chain
    elif chain_id is not None:
        found = [c for c in config.chains.values() if c.chain_id == chain_id]
        chain = found[0] if found else config.chain
    else:
        chain = config.chain
    sweep = config.sweep
    own = sweep.chains.get(chain.key) if sweep is not None else None
    if chain == config.chain and own is None:
        return config
    assets = {n: a for n, a in config.assets.items() if config.chain_of(n) == chain}
    if sweep is not None:
        primary = chain == config.chain
        sweep = dataclasses.replace(
            sweep,
            batch=own.batch if own is not None else (sweep.batch if primary else None),
            delegate=own.delegate if own is not None else (sweep.delegate if primary else None),
        )
    default = config.default_asset if config.default_asset in assets else next(iter(assets), "")
    return dataclasses.replace(
        config, chain=chain, assets=assets, default_asset=default, sweep=sweep
    )


def logs_to_stderr() -> None:
    """Keep stdout for the command's own output (``funds --json`` stays valid JSON)."""
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def refused(message: str) -> int:
    print(f"sweep refused: {message}", file=sys.stderr)
    return 1


def sign_main(args: argparse.Namespace) -> int:
    """``sweep sign``: needs no config, no node and no network."""
    from xbtcpay.sweep.sign import check_plan, sign_plan

    try:
        plan = plan_from_json(read_json(args.plan))
        mnemonic = _read_mnemonic(args.mnemonic_file)
        summary = check_plan(plan, mnemonic, treasury=args.treasury)
        print(
            f"chain {summary.chain_id}: {summary.count} addresses, {summary.total} "
            f"{summary.asset} to treasury {summary.treasury} (delegate {summary.delegate}); "
            f"{summary.signatures} signatures",
            file=sys.stderr,
        )
        ask = sys.stdin.isatty() and args.mnemonic_file and not args.yes
        if ask and input("sign? [y/N] ").strip().lower() not in ("y", "yes"):
            return refused("not confirmed")
        signed = sign_plan(plan, mnemonic, treasury=args.treasury)
    except SweepRefused as exc:
        return refused(str(exc))
    write_json(args.output, signed_to_json(signed))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _read_mnemonic(path: str | None) -> str:
    try:
        if path is None or path == "-":
            return sys.stdin.read()
        with open(path) as handle:
            return handle.read()
    except OSError as exc:
        raise SweepRefused(f"cannot read the mnemonic file: {exc.strerror}") from None


@asynccontextmanager
async def _opened(config: Config) -> AsyncIterator[tuple[SweepStore, ChainClient]]:
    password = config.database_password.reveal() if config.database_password else None
    db = await open_engine(config.database, password=password, pool_size=config.database_pool_size)
    try:
        async with ChainClient(
            http_urls(config.chain.rpc_urls), timeout=config.chain.request_timeout
        ) as client:
            yield SweepStore(db), client
    finally:
        await db.close()


async def sweep_main(config: Config, args: argparse.Namespace) -> int:
    logs_to_stderr()
    try:
        chain_id = None
        if args.action == "send" and args.chain is None:
            chain_id = signed_from_json(read_json(args.signed)).plan.chain_id
        config = for_chain(
            config, args.chain, asset=getattr(args, "asset", None), chain_id=chain_id
        )
        async with _opened(config) as (store, client):
            if args.action == "deploy":
                return await _deploy(config, client)
            if args.action == "plan":
                return await _plan(config, store, client, args)
            return await _send(config, store, client, args)
    except SweepRefused as exc:
        return refused(str(exc))
    except ChainError as exc:
        return refused(f"node error: {exc}")


async def _deploy(config: Config, client: ChainClient) -> int:
    from xbtcpay.chain.devchain import deploy
    from xbtcpay.sweep.contracts import delegate_address
    from xbtcpay.sweep.planner import sweep_settings
    from xbtcpay.sweep.send import gas_wallet

    treasury = sweep_settings(config).treasury
    if await client.chain_id() != config.chain.chain_id:
        raise SweepRefused(f"the node is not chain id {config.chain.chain_id}")
    batch = await deploy(client, "SweepBatch", gas_wallet(config), [treasury])
    print(deployed_lines(config, treasury, batch, delegate_address(batch, treasury)))
    return 0


def deployed_lines(config: Config, treasury: str, batch: str, delegate: str) -> str:
    """What ``sweep deploy`` prints: the exact lines to paste under ``sweep:``.

    The addresses stay in the operator's config rather than being recorded somewhere
    ``sweep plan`` reads implicitly: the config is the one place that says which contracts
    this server sweeps through, and it is what a reviewer reads. The config refuses a
    ``delegate`` that is not the batch's delegate for ``sweep.treasury``, ``sweep plan``
    checks the batch on the node, and the signer checks the delegate against the treasury.
    """
    return (
        f"SweepBatch deployed on chain {config.chain.chain_id} for treasury {treasury}\n"
        f"# add these two lines under `sweep:` in {config.path}, then run `sweep plan`:\n"
        f'  batch: "{batch}"\n'
        f'  delegate: "{delegate}"'
    )


async def _plan(
    config: Config, store: SweepStore, client: ChainClient, args: argparse.Namespace
) -> int:
    from xbtcpay.sweep.planner import build_plan

    plan = await build_plan(
        config, store, client, asset_name=args.asset, minimum=args.min, gas_station=args.gas_station
    )
    write_json(args.output, plan_to_json(plan))
    print(
        f"{args.output}: {len(plan.entries)} addresses, {plan.amount(plan.total)} "
        f"{plan.asset} to treasury {plan.treasury} (chain {plan.chain_id})"
    )
    block = await client.get_block("latest") or {}
    price = int(str(block.get("baseFeePerGas", "0x0")), 16) + 10**9
    costs = estimated_gas(plan)
    print(
        "estimated cost at the current base fee: "
        + ", ".join(f"{name} {gas} gas ({_eth(gas * price)} ETH)" for name, gas in costs.items())
    )
    return 0


async def _send(
    config: Config, store: SweepStore, client: ChainClient, args: argparse.Namespace
) -> int:
    signed = signed_from_json(read_json(args.signed))
    now = int(time.time())
    if signed.plan.kind == GAS_STATION:
        return await _send_station(config, store, client, signed, args.dry_run, now)
    sender = Sender(config, store, client)
    if args.dry_run:
        checked, estimate = await sender.estimate(signed, now)
    else:
        report = await sender.send(signed, now)
        checked, estimate = report.checked, report.estimate
    for address, why in checked.skipped:
        print(f"skipped {address}: {why}")
    per = estimate.total_gas // max(1, estimate.addresses)
    per_cost = estimate.expected_cost // max(1, estimate.addresses)
    print(
        f"{estimate.addresses} addresses in {len(estimate.batches)} transaction(s): "
        f"gas limit {estimate.total_gas} ({per} per address), expected cost "
        f"{_eth(estimate.expected_cost)} ETH ({_eth(per_cost)} per address), at most "
        f"{_eth(estimate.max_cost)} ETH; "
        f"gas wallet {estimate.gas_wallet} holds {_eth(estimate.gas_wallet_balance)} ETH"
    )
    if args.dry_run:
        return 0
    await sender.confirm(signed, report.sent)
    return _confirmed(signed, report.sent)


def _confirmed(signed: SignedPlan, sent: list[Pending]) -> int:
    for p in sent:
        print(
            f"{p.tx_hash}: {p.done or 'not confirmed yet'}, {len(p.ready)} addresses, "
            f"gas used {p.gas_used}, fee {_eth(p.fee)} ETH, "
            f"{signed.plan.amount(p.units)} {signed.plan.asset}"
        )
    if any(p.done != CONFIRMED for p in sent):
        print("not every sweep is confirmed: run `xbtcpay funds` to follow them", file=sys.stderr)
        return 1
    return 0


async def _send_station(
    config: Config,
    store: SweepStore,
    client: ChainClient,
    signed: SignedPlan,
    dry_run: bool,
    now: int,
) -> int:
    from xbtcpay.sweep.station import StationSender

    sender = StationSender(config, store, client)
    if dry_run:
        checked, estimate = await sender.estimate_station(signed, now)
    else:
        checked, estimate, sent = await sender.send_station(signed, now)
    for address, why in checked.skipped:
        print(f"skipped {address}: {why}")
    print(
        f"{len(checked.ready)} addresses by gas station: {len(estimate.topups)} top-ups "
        f"(at most {_eth(estimate.max_cost)} ETH from the gas wallet {estimate.gas_wallet}, "
        f"which holds {_eth(estimate.gas_wallet_balance)} ETH), then one transfer each "
        f"(gas limit {estimate.transfer_gas})"
    )
    if dry_run:
        return 0
    await sender.confirm(signed, sent)
    return _confirmed(signed, sent)


def _eth(wei: int) -> str:
    return format(Decimal(wei).scaleb(-18).normalize(), "f")


async def funds_main(config: Config, args: argparse.Namespace) -> int:
    from xbtcpay.sweep.funds import funds_json, summarize

    logs_to_stderr()
    try:
        config = for_chain(config, args.chain)
    except SweepRefused as exc:
        return refused(str(exc))
    try:
        async with _opened(config) as (store, client):
            strays = await ChainStore(store.db).strays()
            funds = await summarize(config, store, client, int(time.time()), strays)
    except ChainError as exc:
        return refused(f"node error: {exc}")
    data = funds_json(funds)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for name, a in data["assets"].items():
        print(
            f"{name}: received {a['received']}, swept {a['swept']}, unswept {a['unswept']} "
            f"on {len(a['addresses'])} addresses"
            + (f", being swept {a['sweeping']}" if Decimal(a["sweeping"]) else "")
            + (f", UNEXPLAINED {a['unexplained']}" if Decimal(a["unexplained"]) else "")
        )
        for item in a["addresses"]:
            print(f"  {item['address']} {item['unswept']}")
    runway = data["gas_wallet"]
    if runway is not None:
        print(
            f"gas wallet {runway['address']}: {runway['balance']} ETH, about "
            f"{runway['addresses']} more addresses at {runway['gas_per_address']} gas each"
        )
    for tx in data["reorged_sweeps"]:
        print(f"sweep {tx} was reorged away: run `xbtcpay sweep send` with its signed file again")
    return 0
