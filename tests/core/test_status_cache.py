"""The status.json cache never serves a body older than the payment or the chain head."""

from __future__ import annotations

from pathlib import Path

from xbtcpay.web.status_cache import StatusCache


def test_live_bodies_follow_the_head_even_from_none() -> None:
    cache = StatusCache()
    cache.put("p", b"at-none", live=True, head=None, read_epoch=cache.epoch)
    assert cache.get("p", None) == b"at-none"
    assert cache.get("p", 6) is None
    cache.put("q", b"static", live=False, head=None, read_epoch=cache.epoch)
    assert cache.get("q", 99) == b"static"


def test_a_read_that_raced_a_change_is_not_stored() -> None:
    cache = StatusCache()
    epoch = cache.epoch  # a request starts reading
    cache.invalidate("p")  # the payment changes meanwhile
    cache.put("p", b"old", live=False, head=None, read_epoch=epoch)
    assert cache.get("p", None) is None


def test_invalidate_and_bounded_size() -> None:
    cache = StatusCache(max_entries=2)
    for name in ("a", "b", "c"):
        cache.put(name, name.encode(), live=False, head=None, read_epoch=cache.epoch)
    assert len(cache) == 2 and cache.get("a", None) is None
    cache.invalidate("c")
    assert cache.get("c", None) is None and cache.get("b", None) == b"b"


async def test_open_payments_warmed_at_start_up_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.harness import running_daemon, wait_until

    async with running_daemon(tmp_path) as d:
        ids = [(await d.start_payment(str(i + 1)))["id"] for i in range(5)]
    async with running_daemon(tmp_path, {"public": {"status_cache_warm": True}}) as d:
        await wait_until(lambda: len(d.runtime.status_cache) == 5)
        assert all(d.runtime.status_cache.get(i, None) for i in ids)
    async with running_daemon(tmp_path, {"public": {"status_cache_size": 0}}) as d:
        assert (await d.status(ids[0]))[0] == 200 and len(d.runtime.status_cache) == 0


def test_a_suspended_cache_serves_and_keeps_nothing_until_resumed() -> None:
    cache = StatusCache()
    cache.put("p", b"new", live=False, head=None, read_epoch=cache.epoch)
    epoch = cache.epoch  # a read begins before the feed fails
    cache.suspend()  # the change feed could not read
    assert cache.get("p", None) is None and len(cache) == 0
    cache.put("p", b"new", live=False, head=None, read_epoch=cache.epoch)
    cache.replace("q", b"paid", live=False, head=None)
    assert cache.get("p", None) is None and cache.get("q", None) is None
    cache.resume()  # the feed caught up
    cache.put("p", b"old", live=False, head=None, read_epoch=epoch)
    assert cache.get("p", None) is None
    cache.put("p", b"paid", live=False, head=None, read_epoch=cache.epoch)
    assert cache.get("p", None) == b"paid"


async def test_a_payment_in_a_block_newer_than_the_known_head_has_one_confirmation(
    tmp_path: Path,
) -> None:
    """The watcher records a deposit of block N before this replica's head moves to N: in
    between, status.json says 1 confirmation (the block's own), never 0 for a seen payment."""
    from dataclasses import replace
    from decimal import Decimal

    from tests.harness import running_daemon
    from xbtcpay.core.state import State
    from xbtcpay.web.status_cache import status_document

    async with running_daemon(tmp_path) as d:
        created = await d.runtime.payments.get((await d.start_payment("1.5"))["id"])
        assert created is not None
        seen = replace(
            created,
            status=State.SEEN,
            tx_block=12,
            tx_hash="0x" + "ab" * 32,
            amount_received=Decimal("1.5"),
        )
        for head, confirmations in ((11, 1), (12, 1), (14, 3)):
            doc = status_document(d.config, d.runtime.core, seen, head)
            assert (doc["status"], doc["confirmations"]) == ("seen", confirmations), head


def test_a_deferred_body_is_rendered_once_on_the_first_read() -> None:
    cache = StatusCache()
    renders: list[str] = []

    def render() -> bytes:
        renders.append("p")
        return b'{"status":"new"}'

    cache.replace("p", render, live=False, head=None)
    assert renders == [] and len(cache) == 1
    assert cache.get("p", 7) == b'{"status":"new"}'
    assert cache.get("p", 8) == b'{"status":"new"}' and renders == ["p"]
    cache.replace("p", render, live=False, head=None)  # a later change: its own rendering
    cache.invalidate("p")
    assert cache.get("p", 8) is None and renders == ["p"]
    cache.replace("q", render, live=False, head=None)
    cache.suspend()
    assert cache.get("q", None) is None and renders == ["p"]


async def test_a_new_payment_s_body_is_what_rendering_it_at_creation_gave(tmp_path: Path) -> None:
    from tests.harness import running_daemon
    from xbtcpay.web.status_cache import head_of, render_status

    async with running_daemon(tmp_path) as d:
        started = [await d.start_payment(amount) for amount in ("1.5", "0.00000001", "20999984")]
        rt = d.runtime
        for answer in started:
            payment = await rt.payments.get(answer["id"])
            rendered, live = render_status(
                rt.config, rt.core, payment, head_of(rt.config, rt.head, payment)
            )
            assert not live
            assert rt.status_cache.get(answer["id"], rt.head.mark) == rendered
            async with d.session.get(f"{d.public_url}/{answer['id']}/status.json") as resp:
                assert resp.status == 200 and await resp.read() == rendered
