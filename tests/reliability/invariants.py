"""The invariants every reliability scenario asserts at its end, computed independently.

The daemon's own view comes from its SQLite file (read-only connection); the chain's view
comes straight from the node (``eth_getLogs`` for Transfer logs to each deposit address and
``balanceOf``), never from the daemon's deposits table; the shop's view is what the postback
receivers recorded. A violation is a sentence naming the payment; a scenario passes only
with none.

1. **no acknowledged payment lost**: every payment the daemon acknowledged (a start_payment
   result the client received) is stored with the same amount and address.
2. **no deposit counted twice**: ``amount_received`` equals the sum of the Transfer logs to
   the payment's address that survive on the node's canonical chain (and ``balanceOf``
   agrees with those logs), and the deposits table adds up to the same.
3. **nothing paid that should not be**: a paid payment either still has its full amount on
   chain or is flagged ``reorged`` (a deep reorg removed confirmed funds, reported to the
   shop); no payment has more than one ``paid`` event; no payment that is not fully funded
   on chain is paid without that flag; the ``tx_hash`` a payment reports (unless flagged
   ``reorged``) is a transaction on the node's chain that credited its address.
4. **every funded payment completes**: a payment whose full amount is on chain at least
   ``confirmations`` blocks deep is paid.
5. **postbacks at least once, stable event id**: every ``paid``/``reorged`` event of a
   payment with a postback url reached the shop at least once; every delivery carries the
   ``X-Xbtcpay-Event-Id`` header equal to the body's ``event_id``; redeliveries of one event
   carry the same id and the same body; a payment's ``paid`` postbacks all carry one id.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.harness import wait_until
from tests.pg import query
from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.deposits import TRANSFER_TOPIC

POSTBACK_EVENTS = ("paid", "reorged")
EVENT_ID_HEADER = "x-xbtcpay-event-id"
_ADDRESS_CHUNK = 200


@dataclass
class Report:
    """What the check found: violations (must be empty) and counts for the docs."""

    violations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def bad(self, message: str) -> None:
        self.violations.append(message)

    def assert_ok(self) -> None:
        """Fail with every violation listed."""
        assert not self.violations, (f"{len(self.violations)} invariant violations:\n"
                                     + "\n".join(self.violations[:40]))


@dataclass(frozen=True)
class ChainView:
    """What the node says about the deposit addresses, from ``from_block`` to ``head``."""

    head: int
    received: dict[str, int]                 # address -> base units (Transfer logs)
    balances: dict[str, int]                 # address -> balanceOf at head
    funded_at: dict[str, dict[int, int]]     # address -> block -> units in that block
    credits: dict[str, set[str]]             # address -> hashes of the txs that credited it


@dataclass(frozen=True)
class Node:
    """How to ask the node (directly, not through any fault-injecting proxy)."""

    client: ChainClient
    token: str
    from_block: int
    confirmations: int
    decimals: int = 8


def _topic(address: str) -> str:
    return "0x" + address[2:].lower().rjust(64, "0")


async def chain_view(node: Node, addresses: Sequence[str]) -> ChainView:
    """Transfer logs and balances of ``addresses`` straight from the node, at one head."""
    head = await node.client.block_number()
    received: dict[str, int] = {a.lower(): 0 for a in addresses}
    funded_at: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    credits: dict[str, set[str]] = defaultdict(set)
    balances: dict[str, int] = {}
    lowered = sorted(received)
    for start in range(0, len(lowered), _ADDRESS_CHUNK):
        chunk = lowered[start:start + _ADDRESS_CHUNK]
        logs = await node.client.get_logs(node.from_block, head, [node.token],
                                          [TRANSFER_TOPIC, None, [_topic(a) for a in chunk]])
        for entry in logs:
            to = "0x" + entry["topics"][2][-40:].lower()
            units = int(entry["data"], 16)
            received[to] += units
            funded_at[to][int(entry["blockNumber"])] += units
            credits[to].add(str(entry["transactionHash"]).lower())
        balances.update(await node.client.erc20_balances(node.token, chunk, head))
    return ChainView(head, received, {a.lower(): b for a, b in balances.items()},
                     {a: dict(b) for a, b in funded_at.items()}, dict(credits))


def _read_database(db_path: Path) -> dict[str, Any]:
    payments = {r["id"]: r for r in query(db_path, "SELECT * FROM payments")}
    events = query(db_path, "SELECT event_id, payment_id, event FROM payment_events ORDER BY seq")
    deposits: dict[str, int] = defaultdict(int)
    for row in query(db_path, "SELECT payment_id, units FROM deposits"):
        deposits[row["payment_id"]] += int(row["units"])
    return {"payments": payments, "events": events, "deposits": dict(deposits)}


async def stored_payments(db_path: Path) -> dict[str, dict[str, Any]]:
    """Every payment row of the database file, by id (read-only)."""
    return dict((await asyncio.to_thread(_read_database, db_path))["payments"])


def _units(value: str, decimals: int) -> int:
    scaled = Decimal(value).scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {decimals} decimals")
    return int(scaled)


def _check_acknowledged(report: Report, payments: Mapping[str, Mapping[str, Any]],
                        acknowledged: Mapping[str, Mapping[str, Any]]) -> None:
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


def _check_chain(report: Report, node: Node, view: ChainView, db: Mapping[str, Any],
                 ids: Iterable[str]) -> None:
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
            report.bad(f"{pid}: balanceOf {view.balances.get(address)} != Transfer logs"
                       f" {on_chain} (credit without a Transfer log?)")
        if recorded != on_chain:
            report.bad(f"{pid}: amount_received {recorded} units != {on_chain} on chain"
                       f" (status {p['status']})")
        if db["deposits"].get(pid, 0) != on_chain:
            report.bad(f"{pid}: deposits table holds {db['deposits'].get(pid, 0)} units"
                       f" != {on_chain} on chain")
        if p["status"] == "paid" and on_chain < amount and not p["reorged"]:
            report.bad(f"{pid}: paid with {on_chain} of {amount} units on chain, not flagged")
        if p["tx_hash"] and not p["reorged"] and (
                p["tx_hash"].lower() not in view.credits.get(address, set())):
            report.bad(f"{pid}: reports tx {p['tx_hash']} ({p['status']}), which is not a"
                       " transfer to its address on the node's chain")
        if p["status"] == "new" and p["tx_hash"]:
            report.bad(f"{pid}: new but reports tx {p['tx_hash']}")
        done = _completed_block(view.funded_at.get(address, {}), amount)
        if done is not None and done <= confirmed_below and p["status"] in ("new", "seen"):
            report.bad(f"{pid}: funded in block {done} (head {view.head}) but {p['status']}")


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


def _check_postbacks(report: Report, db: Mapping[str, Any], ids: set[str],
                     deliveries: Sequence[Mapping[str, Any]]) -> None:
    by_event_id: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    ids_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in deliveries:
        body = record["json"]
        if _header(record, EVENT_ID_HEADER) != body.get("event_id"):
            report.bad(f"{body.get('id')}: event id header {_header(record, EVENT_ID_HEADER)}"
                       f" != body event_id {body.get('event_id')}")
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
        if (e["payment_id"] in ids and e["event"] in POSTBACK_EVENTS and p is not None
                and p["postback_url"] and e["event_id"] not in by_event_id):
            report.bad(f"{e['payment_id']}: {e['event']} event {e['event_id']} never delivered")
    report.counts["postbacks_received"] = len(deliveries)
    report.counts["postback_events_delivered"] = len(by_event_id)
    report.counts["redeliveries"] = len(deliveries) - len(by_event_id)


async def check(db_path: Path, acknowledged: Mapping[str, Mapping[str, Any]],
                deliveries: Sequence[Mapping[str, Any]], node: Node | None = None,
                *, expected_total: int | None = None) -> Report:
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
        report.counts["head"] = view.head
        report.counts["units_on_chain"] = sum(view.received.values())
    _check_events(report, db, ids)
    _check_postbacks(report, db, ids, deliveries)
    statuses: dict[str, int] = defaultdict(int)
    for p in payments.values():
        statuses[p["status"]] += 1
    report.counts.update(payments=len(payments), paid=statuses["paid"],
                         reorged=sum(1 for p in payments.values() if p["reorged"]))
    return report


async def eventually(db_path: Path, acknowledged: Mapping[str, Mapping[str, Any]],
                     deliveries: Callable[[], Sequence[Mapping[str, Any]]],
                     node: Node | None = None, *, expected_total: int | None = None,
                     timeout: float = 30.0) -> Report:
    """Wait until every invariant holds (the daemon converges); the last report otherwise.

    ``deliveries`` is called before each check: receivers keep recording meanwhile.
    """
    last: list[Report] = []

    async def holds() -> bool:
        last[:] = [await check(db_path, acknowledged, deliveries(), node,
                               expected_total=expected_total)]
        return not last[0].violations

    try:
        await wait_until(holds, timeout=timeout, interval=0.25)
    except TimeoutError:
        pass
    return last[0]
