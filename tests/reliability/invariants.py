"""The invariants every reliability scenario asserts at its end, computed independently.

The daemon's own view comes from its SQLite file (read-only connection); the chain's view
comes straight from the node through a JSON-RPC reader of this module's own (``eth_getLogs``
for Transfer logs to each deposit address, ``balanceOf``, receipts), never from the daemon's
client or its deposits table; the shop's view is what the postback receivers recorded, each
delivery's signature checked here with the shared secret. A violation is a sentence naming
the payment; a scenario passes only with none.

1. **no acknowledged payment lost**: every payment the daemon acknowledged (a start_payment
   result the client received) is stored with the same amount and address.
2. **no deposit counted twice**: ``amount_received`` equals the sum of the Transfer logs to
   the payment's address that survive on the node's canonical chain (and ``balanceOf``
   agrees with those logs), and the deposits table adds up to the same.
3. **nothing paid that should not be**: a paid payment either still has its full amount on
   chain or is flagged ``reorged`` (a deep reorg removed confirmed funds, reported to the
   shop); no payment has more than one ``paid`` event; no payment that is not fully funded
   on chain is paid without that flag, and the flag is believed only when the chain agrees:
   the transaction the ``paid`` event named is no longer on the node's chain crediting the
   address; the ``tx_hash`` a payment reports (unless flagged ``reorged``) is a transaction
   on the node's chain that credited its address. With a ``HeadLog`` running during the
   scenario, every ``paid`` happened at least ``confirmations`` deep: the node's head when
   the paid postback arrived (or one second after the paid event's time) bounds the head
   the daemon can have seen.
4. **every funded payment completes**: a payment whose full amount is on chain at least
   ``confirmations`` blocks deep is paid.
5. **postbacks at least once, stable event id, signed**: every ``paid``/``reorged`` event
   of a payment with a postback url reached the shop at least once; every delivery carries
   the ``X-Xbtcpay-Event-Id`` header equal to the body's ``event_id`` and a valid
   ``X-Xbtcpay-Signature`` (HMAC-SHA256 of ``"<t>.<body>"`` with the shared secret, checked
   here, not with the daemon's code); redeliveries of one event carry the same id and the
   same body; a payment's ``paid`` postbacks all carry one id.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from tests.harness import POSTBACK_SECRET, wait_until
from tests.pg import query

POSTBACK_EVENTS = ("paid", "reorged")
EVENT_ID_HEADER = "x-xbtcpay-event-id"
SIGNATURE_HEADER = "x-xbtcpay-signature"
# keccak256("Transfer(address,address,uint256)") and balanceOf(address), written out here.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BALANCE_OF = "0x70a08231"
_ADDRESS_CHUNK = 200


class RawNode:
    """A minimal JSON-RPC reader of the node, independent of the daemon's ChainClient."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ids = itertools.count(1)

    async def _post(self, payload: Any) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, json=payload, timeout=aiohttp.ClientTimeout(total=30)) as resp,
        ):
            return await resp.json(content_type=None)

    async def call(self, method: str, params: list[Any]) -> Any:
        answer = await self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        )
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        answers = {a["id"]: a for a in await self._post(payload)}
        if any("error" in a for a in answers.values()):
            raise RuntimeError(f"batch failed: {list(answers.values())[:3]}")
        return [answers[i]["result"] for i in range(len(calls))]

    async def head(self) -> int:
        return int(await self.call("eth_blockNumber", []), 16)


class HeadLog:
    """Samples the node's head in the background: (wall time, head) pairs, in order."""

    def __init__(self, url: str, interval: float = 0.02) -> None:
        self.node = RawNode(url)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                head = await self.node.head()
                self.samples.append((time.time(), head))
            except (aiohttp.ClientError, TimeoutError, RuntimeError):
                pass
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> HeadLog:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def highest_until(self, moment: float) -> int | None:
        """The highest head sampled up to the first sample at or after ``moment``: no head
        the daemon saw before ``moment`` can be above it (None: not sampled that late)."""
        times = [t for t, _ in self.samples]
        index = bisect.bisect_left(times, moment)
        if index >= len(self.samples):
            return None
        return max(h for _, h in self.samples[: index + 1])


@dataclass
class Report:
    """What the check found: violations (must be empty) and counts for the docs."""

    violations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def bad(self, message: str) -> None:
        self.violations.append(message)

    def assert_ok(self) -> None:
        """Fail with every violation listed."""
        assert not self.violations, f"{len(self.violations)} invariant violations:\n" + "\n".join(
            self.violations[:40]
        )


@dataclass(frozen=True)
class ChainView:
    """What the node says about the deposit addresses, from ``from_block`` to ``head``."""

    head: int
    received: dict[str, int]  # address -> base units (Transfer logs)
    balances: dict[str, int]  # address -> balanceOf at head
    funded_at: dict[str, dict[int, int]]  # address -> block -> units in that block
    credits: dict[str, set[str]]  # address -> hashes of the txs that credited it


@dataclass(frozen=True)
class Node:
    """How to ask the node (its URL directly, not through any fault-injecting proxy)."""

    url: str
    token: str
    from_block: int
    confirmations: int
    decimals: int = 8
    heads: HeadLog | None = None

    @property
    def rpc(self) -> RawNode:
        return RawNode(self.url)


def _topic(address: str) -> str:
    return "0x" + address[2:].lower().rjust(64, "0")


async def chain_view(node: Node, addresses: Sequence[str]) -> ChainView:
    """Transfer logs and balances of ``addresses`` straight from the node, at one head."""
    rpc = node.rpc
    head = await rpc.head()
    received: dict[str, int] = {a.lower(): 0 for a in addresses}
    funded_at: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    credits: dict[str, set[str]] = defaultdict(set)
    balances: dict[str, int] = {}
    lowered = sorted(received)
    for start in range(0, len(lowered), _ADDRESS_CHUNK):
        chunk = lowered[start : start + _ADDRESS_CHUNK]
        logs = await rpc.call(
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(node.from_block),
                    "toBlock": hex(head),
                    "address": [node.token],
                    "topics": [TRANSFER_TOPIC, None, [_topic(a) for a in chunk]],
                }
            ],
        )
        for entry in logs:
            to = "0x" + entry["topics"][2][-40:].lower()
            units = int(entry["data"], 16)
            received[to] += units
            funded_at[to][int(entry["blockNumber"], 16)] += units
            credits[to].add(str(entry["transactionHash"]).lower())
        results = await rpc.batch(
            [
                ("eth_call", [{"to": node.token, "data": BALANCE_OF + _topic(a)[2:]}, hex(head)])
                for a in chunk
            ]
        )
        balances.update({a: int(r, 16) for a, r in zip(chunk, results, strict=True)})
    return ChainView(
        head, received, balances, {a: dict(b) for a, b in funded_at.items()}, dict(credits)
    )


def _read_database(db_path: Path | str) -> dict[str, Any]:
    payments = {r["id"]: r for r in query(db_path, "SELECT * FROM payments")}
    events = query(
        db_path, "SELECT event_id, payment_id, event, at, details FROM payment_events ORDER BY seq"
    )
    deposits: dict[str, int] = defaultdict(int)
    for row in query(db_path, "SELECT payment_id, units FROM deposits"):
        deposits[row["payment_id"]] += int(row["units"])
    return {"payments": payments, "events": events, "deposits": dict(deposits)}


async def stored_payments(db_path: Path | str) -> dict[str, dict[str, Any]]:
    """Every payment row of the database file, by id (read-only)."""
    return dict((await asyncio.to_thread(_read_database, db_path))["payments"])


def _units(value: str, decimals: int) -> int:
    scaled = Decimal(value).scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {decimals} decimals")
    return int(scaled)


def _check_acknowledged(
    report: Report,
    payments: Mapping[str, Mapping[str, Any]],
    acknowledged: Mapping[str, Mapping[str, Any]],
) -> None:
    for pid, ack in acknowledged.items():
        stored = payments.get(pid)
        if stored is None:
            report.bad(f"{pid}: acknowledged payment lost")
            continue
        if Decimal(stored["amount"]) != Decimal(str(ack["amount"])):
            report.bad(f"{pid}: amount {stored['amount']} != acknowledged {ack['amount']}")
        if ack.get("address") and stored["address"] != str(ack["address"]).lower():
            report.bad(f"{pid}: address changed after it was acknowledged")


def _completed_block(funded: Mapping[int, int], amount: int) -> int | None:
    running = 0
    for block in sorted(funded):
        running += funded[block]
        if running >= amount:
            return block
    return None


def _check_chain(
    report: Report, node: Node, view: ChainView, db: Mapping[str, Any], ids: Iterable[str]
) -> None:
    payments = db["payments"]
    confirmed_below = view.head - node.confirmations + 1
    for pid in ids:
        p = payments.get(pid)
        if p is None or p["address"] is None:
            continue
        address, amount = p["address"], _units(p["amount"], node.decimals)
        on_chain = view.received.get(address, 0)
        recorded = _units(p["amount_received"], node.decimals)
        if view.balances.get(address, 0) != on_chain:
            report.bad(
                f"{pid}: balanceOf {view.balances.get(address)} != Transfer logs"
                f" {on_chain} (credit without a Transfer log?)"
            )
        if recorded != on_chain:
            report.bad(
                f"{pid}: amount_received {recorded} units != {on_chain} on chain"
                f" (status {p['status']})"
            )
        if db["deposits"].get(pid, 0) != on_chain:
            report.bad(
                f"{pid}: deposits table holds {db['deposits'].get(pid, 0)} units"
                f" != {on_chain} on chain"
            )
        if p["status"] == "paid" and on_chain < amount:
            if not p["reorged"]:
                report.bad(f"{pid}: paid with {on_chain} of {amount} units on chain, not flagged")
            elif not _named_txs(db, pid) - view.credits.get(address, set()):
                report.bad(
                    f"{pid}: flagged reorged with {on_chain} of {amount} units, but"
                    " every transaction its events named still credits it on chain"
                )
        if (
            p["tx_hash"]
            and not p["reorged"]
            and (p["tx_hash"].lower() not in view.credits.get(address, set()))
        ):
            report.bad(
                f"{pid}: reports tx {p['tx_hash']} ({p['status']}), which is not a"
                " transfer to its address on the node's chain"
            )
        if p["status"] == "new" and p["tx_hash"]:
            report.bad(f"{pid}: new but reports tx {p['tx_hash']}")
        done = _completed_block(view.funded_at.get(address, {}), amount)
        if done is not None and done <= confirmed_below and p["status"] in ("new", "seen"):
            report.bad(f"{pid}: funded in block {done} (head {view.head}) but {p['status']}")


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(event.get("details") or "{}"))


def _named_txs(db: Mapping[str, Any], pid: str) -> set[str]:
    """The transactions the payment's events said had credited it."""
    return {
        str(_details(e)["tx_hash"]).lower()
        for e in db["events"]
        if e["payment_id"] == pid and _details(e).get("tx_hash")
    }


def _check_depth_at_paid(
    report: Report, node: Node, db: Mapping[str, Any], deliveries: Sequence[Mapping[str, Any]]
) -> None:
    """Every paid event happened when the paying block was ``confirmations`` deep."""
    heads = node.heads
    if heads is None:
        return
    arrived: dict[str, float] = {}
    for record in deliveries:
        body = record["json"]
        if body.get("event") == "paid":
            pid = str(body.get("id"))
            arrived[pid] = min(arrived.get(pid, record["at"]), record["at"])
    checked = 0
    for e in db["events"]:
        block = _details(e).get("tx_block")
        p = db["payments"].get(e["payment_id"])
        if e["event"] != "paid" or block is None or p is None or p["address"] is None:
            continue
        moment = min(arrived.get(e["payment_id"], e["at"] + 1.0), e["at"] + 1.0)
        bound = heads.highest_until(moment)
        if bound is None:
            continue
        checked += 1
        depth = bound - int(block) + 1
        if depth < node.confirmations:
            report.bad(
                f"{e['payment_id']}: paid at most {depth} confirmations deep (block"
                f" {block}, head <= {bound}), needs {node.confirmations}"
            )
    report.counts["paid_depth_checked"] = checked


def _signed(record: Mapping[str, Any]) -> bool:
    header = _header(record, SIGNATURE_HEADER) or ""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        message = f"{parts['t']}.{record['body']}".encode()
    except (KeyError, ValueError):
        return False
    expected = hmac.new(POSTBACK_SECRET.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _check_events(report: Report, db: Mapping[str, Any], ids: Iterable[str]) -> None:
    per_payment: dict[str, list[str]] = defaultdict(list)
    for e in db["events"]:
        per_payment[e["payment_id"]].append(e["event"])
    for pid in ids:
        if per_payment[pid].count("paid") > 1:
            report.bad(f"{pid}: paid {per_payment[pid].count('paid')} times")
        p = db["payments"].get(pid)
        if p is not None and p["reorged"] and "reorged" not in per_payment[pid]:
            report.bad(f"{pid}: flagged reorged without a reorged event")


def _header(record: Mapping[str, Any], name: str) -> str | None:
    for key, value in record["headers"].items():
        if key.lower() == name:
            return str(value)
    return None


def _check_postbacks(
    report: Report, db: Mapping[str, Any], ids: set[str], deliveries: Sequence[Mapping[str, Any]]
) -> None:
    by_event_id: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    ids_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in deliveries:
        body = record["json"]
        if not _signed(record):
            report.bad(f"{body.get('id')}: {body.get('event')} postback without a valid signature")
        if _header(record, EVENT_ID_HEADER) != body.get("event_id"):
            report.bad(
                f"{body.get('id')}: event id header {_header(record, EVENT_ID_HEADER)}"
                f" != body event_id {body.get('event_id')}"
            )
        by_event_id[str(body.get("event_id"))].append(record)
        ids_of[(str(body.get("id")), str(body.get("event")))].add(str(body.get("event_id")))
    for (pid, event), event_ids in ids_of.items():
        if event == "paid" and len(event_ids) > 1:
            report.bad(f"{pid}: {event} delivered under {len(event_ids)} different event ids")
    for event_id, records in by_event_id.items():
        if len({r["body"] for r in records}) > 1:
            report.bad(f"{event_id}: redelivered with a different body")
    stored_ids = {e["event_id"] for e in db["events"]}
    for event_id in by_event_id:
        if event_id not in stored_ids:
            report.bad(f"{event_id}: delivered but no such event is stored")
    for e in db["events"]:
        p = db["payments"].get(e["payment_id"])
        if (
            e["payment_id"] in ids
            and e["event"] in POSTBACK_EVENTS
            and p is not None
            and p["postback_url"]
            and e["event_id"] not in by_event_id
        ):
            report.bad(f"{e['payment_id']}: {e['event']} event {e['event_id']} never delivered")
    report.counts["postbacks_received"] = len(deliveries)
    report.counts["postback_events_delivered"] = len(by_event_id)
    report.counts["redeliveries"] = len(deliveries) - len(by_event_id)


async def check(
    db_path: Path | str,  # a SQLite file, or a postgresql:// URL
    acknowledged: Mapping[str, Mapping[str, Any]],
    deliveries: Sequence[Mapping[str, Any]],
    node: Node | None = None,
    *,
    expected_total: int | None = None,
) -> Report:
    """Every invariant over the database file, the node and the recorded postbacks.

    ``acknowledged`` maps payment id -> the start_payment result the client received;
    ``deliveries`` are receiver records (``json``, ``body``, ``headers``);
    ``expected_total``, when given, is how many payments the database must hold.
    """
    report = Report()
    db = await asyncio.to_thread(_read_database, db_path)
    payments = db["payments"]
    _check_acknowledged(report, payments, acknowledged)
    if expected_total is not None and len(payments) != expected_total:
        report.bad(f"{len(payments)} payments stored, expected {expected_total}")
    ids = set(payments)
    if node is not None:
        addresses = [p["address"] for p in payments.values() if p["address"]]
        view = await chain_view(node, addresses)
        _check_chain(report, node, view, db, ids)
        _check_depth_at_paid(report, node, db, deliveries)
        report.counts["head"] = view.head
        report.counts["units_on_chain"] = sum(view.received.values())
    _check_events(report, db, ids)
    _check_postbacks(report, db, ids, deliveries)
    statuses: dict[str, int] = defaultdict(int)
    for p in payments.values():
        statuses[p["status"]] += 1
    report.counts.update(
        payments=len(payments),
        paid=statuses["paid"],
        reorged=sum(1 for p in payments.values() if p["reorged"]),
    )
    return report


async def eventually(
    db_path: Path | str,  # a SQLite file, or a postgresql:// URL
    acknowledged: Mapping[str, Mapping[str, Any]],
    deliveries: Callable[[], Sequence[Mapping[str, Any]]],
    node: Node | None = None,
    *,
    expected_total: int | None = None,
    timeout: float = 30.0,
) -> Report:
    """Wait until every invariant holds (the daemon converges); the last report otherwise.

    ``deliveries`` is called before each check: receivers keep recording meanwhile.
    """
    last: list[Report] = []

    async def holds() -> bool:
        last[:] = [
            await check(db_path, acknowledged, deliveries(), node, expected_total=expected_total)
        ]
        return not last[0].violations

    with contextlib.suppress(TimeoutError):
        await wait_until(holds, timeout=timeout, interval=0.25)
    return last[0]
