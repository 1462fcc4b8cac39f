"""The status.json cache never serves a body older than the payment or the chain head."""

from __future__ import annotations

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
    epoch = cache.epoch           # a request starts reading
    cache.invalidate("p")         # the payment changes meanwhile
    cache.put("p", b"old", live=False, head=None, read_epoch=epoch)
    assert cache.get("p", None) is None


def test_invalidate_and_bounded_size() -> None:
    cache = StatusCache(max_entries=2)
    for name in ("a", "b", "c"):
        cache.put(name, name.encode(), live=False, head=None, read_epoch=cache.epoch)
    assert len(cache) == 2 and cache.get("a", None) is None
    cache.invalidate("c")
    assert cache.get("c", None) is None and cache.get("b", None) == b"b"
