"""The invariant checker itself can fail: fed a known-bad record, it names the violation."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.harness import POSTBACK_SECRET
from tests.reliability import invariants
from xbtcpay.core.postback import sign

ADDRESS = "0x" + "ab" * 20
TX = "0x" + "cd" * 32


def _db(*, reorged: bool, named: str = TX) -> dict[str, Any]:
    payment = {
        "id": "p1",
        "address": ADDRESS,
        "amount": "1",
        "amount_received": "0.5",
        "status": "paid",
        "reorged": reorged,
        "tx_hash": None,
        "postback_url": None,
    }
    events = [
        {
            "event_id": "e1",
            "payment_id": "p1",
            "event": "paid",
            "at": 100,
            "details": json.dumps({"tx_hash": named, "tx_block": 10}),
        }
    ]
    return {"payments": {"p1": payment}, "events": events, "deposits": {"p1": 50_000_000}}


def _view(credits: set[str]) -> invariants.ChainView:
    return invariants.ChainView(
        head=20,
        received={ADDRESS: 50_000_000},
        balances={ADDRESS: 50_000_000},
        funded_at={ADDRESS: {10: 50_000_000}},
        credits={ADDRESS: credits},
    )


NODE = invariants.Node("http://127.0.0.1:1", "0x" + "00" * 20, 0, 3)


def _chain_violations(db: dict[str, Any], view: invariants.ChainView) -> list[str]:
    report = invariants.Report()
    invariants._check_chain(report, NODE, view, db, ["p1"])
    return report.violations


def test_missing_funds_are_not_excused_by_the_daemon_flag_alone() -> None:
    assert any("not flagged" in v for v in _chain_violations(_db(reorged=False), _view({TX})))
    # flagged, but the transaction its paid event named still credits the address
    assert any("still credits" in v for v in _chain_violations(_db(reorged=True), _view({TX})))
    # flagged, and that transaction is gone from the chain: a reorg the shop was told about
    assert _chain_violations(_db(reorged=True), _view(set())) == []


def _delivery(secret: str) -> dict[str, Any]:
    body = json.dumps({"id": "p1", "event": "paid", "event_id": "e1"})
    return {
        "json": json.loads(body),
        "body": body,
        "at": time.time(),
        "headers": {
            "X-Xbtcpay-Signature": sign(secret, body, int(time.time())),
            "X-Xbtcpay-Event-Id": "e1",
        },
    }


def test_every_postback_signature_is_checked() -> None:
    db = _db(reorged=False)
    good, bad = invariants.Report(), invariants.Report()
    invariants._check_postbacks(good, db, {"p1"}, [_delivery(POSTBACK_SECRET)])
    invariants._check_postbacks(bad, db, {"p1"}, [_delivery("another-secret")])
    assert good.violations == []
    assert bad.violations == ["p1: paid postback without a valid signature"]


def test_paid_too_shallow_is_caught_from_the_head_log() -> None:
    heads = invariants.HeadLog("http://127.0.0.1:1")
    heads.samples = [(99.0, 10), (100.5, 11), (101.2, 11), (101.5, 12)]
    node = invariants.Node(NODE.url, NODE.token, 0, 3, heads=heads)
    report = invariants.Report()
    invariants._check_depth_at_paid(report, node, _db(reorged=False), [])
    assert report.violations == [
        "p1: paid at most 2 confirmations deep (block 10, head <= 11), needs 3"
    ]
