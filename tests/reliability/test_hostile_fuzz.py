"""Property-based fuzzing of the JSON-RPC port and the public routes.

Invariants: never a 500, never a crash, and a rejected request changes nothing.
Counts (examples run) are printed for docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.daemon_thread import ThreadedDaemon

METHODS = [
    "start_payment",
    "get_payment",
    "list_payments",
    "cancel_payment",
    "nope",
    "",
    "start_payment\x00",
    "rpc.discover",
]
PARAM_KEYS = [
    "amount",
    "data",
    "postback_url",
    "asset",
    "expires_in",
    "order_id",
    "id",
    "status",
    "limit",
    "offset",
    "postback_events",
    "created_after",
]

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "1",
            "1.5",
            "0",
            "-1",
            "1e5",
            "NaN",
            "0.000000001",
            "20999984",
            "20999985",
            "http://127.0.0.1:1/x",
            "ftp://x",
            "0xbtc",
            "eth",
            "paid",
        ]
    ),
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
params = st.one_of(json_value, st.dictionaries(st.sampled_from(PARAM_KEYS), json_value, max_size=5))
request_obj = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2, None]),
        "id": st.one_of(st.integers(), st.text(max_size=10), st.none(), st.floats(allow_nan=False)),
        "method": st.one_of(st.sampled_from(METHODS), json_leaf),
        "params": params,
    },
)
near_valid = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "id": st.integers(0, 1000),
        "method": st.just("start_payment"),
        "params": st.fixed_dictionaries(
            {"amount": st.sampled_from(["1", "2.5", "0.00000001", "20999984", "1.123456789"])},
            optional={
                "data": json_value,
                "postback_url": st.sampled_from(
                    ["http://127.0.0.1:1/pb", "https://shop.example/x", "nope"]
                ),
                "asset": st.sampled_from(["0xbtc", "doge"]),
                "order_id": st.uuids().map(str),
            },
        ),
    }
)
body = st.one_of(
    near_valid.map(lambda o: json.dumps(o).encode()),
    request_obj.map(lambda o: json.dumps(o).encode()),
    st.lists(request_obj, max_size=5).map(lambda o: json.dumps(o).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
)
COUNTS = {"rpc": 0, "public": 0, "created": 0}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDaemon]:
    with ThreadedDaemon(tmp_path_factory.mktemp("fuzz")) as d:
        yield d
    print(f"\nfuzz counts: {COUNTS}")


SEEN_IDS: set[str] = set()


def _created(reply: Any) -> int:
    """Payments this reply created (an order_id replay returns an existing one)."""
    items = reply if isinstance(reply, list) else [reply]
    ids = {
        i["result"]["id"]
        for i in items
        if isinstance(i, dict) and isinstance(i.get("result"), dict) and "status_url" in i["result"]
    }
    new = ids - SEEN_IDS
    SEEN_IDS.update(ids)
    return len(new)


@settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(raw=body)
def test_rpc_port_never_500_and_rejections_change_nothing(
    daemon: ThreadedDaemon, raw: bytes
) -> None:
    payments, events = daemon.payment_count(), daemon.event_count()
    status, answer = daemon.request("rpc", "POST", "/", raw, {"Content-Type": "application/json"})
    COUNTS["rpc"] += 1
    assert status in (200, 204, 413), (status, raw, answer)
    reply = json.loads(answer) if answer else None
    created = _created(reply)
    COUNTS["created"] += created
    assert daemon.payment_count() == payments + created
    if created == 0:
        assert daemon.event_count() == events


path_segment = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="/?#%"),
    max_size=70,
)


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    segment=path_segment,
    method=st.sampled_from(["GET", "POST", "OPTIONS", "PUT", "DELETE"]),
    payload=st.binary(max_size=100),
)
def test_public_routes_never_500(
    daemon: ThreadedDaemon, segment: str, method: str, payload: bytes
) -> None:
    events = daemon.event_count()
    for path in (f"/{segment}/status.json", f"/{segment}", "/healthz"):
        status, _ = daemon.request(
            "public",
            method,
            path,
            payload if method != "GET" else None,
            {"Origin": "https://shop.example"},
        )
        COUNTS["public"] += 1
        assert status < 500 or (path == "/healthz" and status == 503), (status, path)
    assert daemon.event_count() == events
