"""The status.json fast path answers a cache hit with exactly what the full stack sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import running_daemon

VARYING = {"date", "x-request-id"}


async def _get(d: Any, path: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    async with d.session.get(f"{d.public_url}{path}", headers=headers) as resp:
        return resp.status, await resp.read(), {k.lower(): v for k, v in resp.headers.items()}


def _hits(d: Any) -> int:
    return int(d.runtime.metrics.registry.get_sample_value("xbtcpay_status_fast_hits_total"))


@pytest.mark.parametrize(
    ("origins", "origin"),
    [
        (["*"], "https://shop.example"),
        (["https://a.example"], "https://a.example"),
        (["https://a.example"], "https://evil.example"),
    ],
)
async def test_cache_hit_answers_like_the_full_stack(
    tmp_path: Path, origins: list[str], origin: str
) -> None:
    async with running_daemon(tmp_path, {"public": {"cors_origins": origins}}) as d:
        pid = (await d.start_payment("1"))["id"]
        d.runtime.status_cache.invalidate(pid)
        before = _hits(d)
        slow = await _get(d, f"/{pid}/status.json", Origin=origin)  # miss: routed, cached
        assert _hits(d) == before
        fast = await _get(d, f"/{pid}/status.json", Origin=origin)  # hit: the fast path
        assert _hits(d) == before + 1
        assert (fast[0], fast[1]) == (slow[0], slow[1]) == (200, slow[1])
        assert {k: v for k, v in fast[2].items() if k not in VARYING} == {
            k: v for k, v in slow[2].items() if k not in VARYING
        }
        assert fast[2]["x-request-id"] and fast[2]["x-request-id"] != slow[2]["x-request-id"]
        echoed = await _get(d, f"/{pid}/status.json", **{"X-Request-Id": "shop-42"})
        assert echoed[2]["x-request-id"] == "shop-42"


async def test_misses_404s_and_other_requests_take_the_normal_path(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1"))["id"]
        await _get(d, f"/{pid}/status.json")
        before = _hits(d)
        assert (await _get(d, "/abcdefabcdefabcd/status.json"))[0] == 404
        assert (await _get(d, f"/{pid}/status.json?x=1"))[0] == 200
        assert (await _get(d, "/healthz"))[0] == 200
        async with d.session.options(
            f"{d.public_url}/{pid}/status.json",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
        ) as r:
            assert r.status == 204
        assert _hits(d) == before
        d.runtime.head.set(12345)  # a live body is only valid at its head: never stale
        assert (await _get(d, f"/{pid}/status.json"))[0] == 200


def _reads(d: Any) -> int:
    return int(d.runtime.metrics.registry.get_sample_value("xbtcpay_status_fast_reads_total"))


@pytest.mark.parametrize(
    ("origins", "origin"),
    [
        (["*"], "https://shop.example"),
        (["https://a.example"], "https://a.example"),
        (["https://a.example"], "https://evil.example"),
    ],
)
async def test_cache_miss_is_read_on_the_fast_path_and_answers_like_the_full_stack(
    tmp_path: Path, origins: list[str], origin: str
) -> None:
    async with running_daemon(tmp_path, {"public": {"cors_origins": origins}}) as d:
        pid = (await d.start_payment("1"))["id"]
        d.runtime.status_cache.invalidate(pid)
        hits, reads = _hits(d), _reads(d)
        fast = await _get(d, f"/{pid}/status.json", Origin=origin)  # miss: read right here
        assert (_hits(d), _reads(d)) == (hits, reads + 1)
        assert len(d.runtime.status_cache) >= 1
        again = await _get(d, f"/{pid}/status.json", Origin=origin)  # now cached: a hit
        assert (_hits(d), _reads(d)) == (hits + 1, reads + 1)
        d.runtime.status_cache.invalidate(pid)
        slow = await _get(d, f"/{pid}/status.json?full=1", Origin=origin)  # the full stack
        assert (_hits(d), _reads(d)) == (hits + 1, reads + 1)
        assert fast[0] == again[0] == slow[0] == 200
        assert fast[1] == again[1] == slow[1]
        assert {k: v for k, v in fast[2].items() if k not in VARYING} == {
            k: v for k, v in slow[2].items() if k not in VARYING
        }
        assert fast[2]["x-request-id"] != slow[2]["x-request-id"]
        d.runtime.status_cache.invalidate(pid)
        echoed = await _get(d, f"/{pid}/status.json", **{"X-Request-Id": "shop-43"})
        assert echoed[2]["x-request-id"] == "shop-43"


async def test_unknown_ids_and_a_failing_database_take_the_full_stack(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1"))["id"]
        d.runtime.status_cache.invalidate(pid)
        hits, reads = _hits(d), _reads(d)
        status, body, _ = await _get(d, "/abcdefabcdefabcd/status.json")
        assert (status, json.loads(body)) == (404, {"error": "not found"})
        assert (_hits(d), _reads(d)) == (hits, reads)
        await d.runtime.db.close()  # every read now fails with StorageError
        status, body, headers = await _get(d, f"/{pid}/status.json")
        assert status == 503 and "error" in json.loads(body)
        assert headers["x-request-id"]  # answered by the full stack's error mapping
        assert (_hits(d), _reads(d)) == (hits, reads)


async def test_an_unknown_id_is_read_from_the_database_once(tmp_path: Path) -> None:
    """The fast path reads a miss; when no such payment exists, the full stack's 404 must
    not read it a second time (a scanner of random ids would double the database's work)."""
    async with running_daemon(tmp_path) as d:
        payments = d.runtime.payments
        read, asked = payments.get, []

        async def counted(payment_id: str) -> Any:
            asked.append(payment_id)
            return await read(payment_id)

        payments.get = counted  # the real store, its reads counted
        status, body, headers = await _get(d, "/abcdefabcdefabcd/status.json")
        assert (status, json.loads(body)) == (404, {"error": "not found"})
        assert headers["x-request-id"]  # still the full stack's answer
        assert asked == ["abcdefabcdefabcd"]
