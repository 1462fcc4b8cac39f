"""Entitlement rules: subscriptions, ownage forever, pay-per-view hours, "*" and groups."""

from __future__ import annotations

from typing import Any

from xbtcpay.commerce.media_access.entitlements import Grant, decide, listing
from xbtcpay.commerce.media_access.products import media_terms, product_problems

PRODUCTS: dict[str, dict[str, Any]] = {
    "basic": {
        "type": "subscription",
        "duration_months": 1,
        "premium": False,
        "prices": {"EUR": "4.99"},
        "items": ["*"],
    },
    "kids": {
        "type": "subscription",
        "duration_months": 1,
        "prices": {"EUR": "2.99"},
        "items": ["group:kids"],
        "streamtypes": ["video"],
    },
    "movie42": {"type": "ownage", "prices": {"EUR": "4.99"}, "items": [42]},
    "rent42": {"type": "ppv", "ppv_hours": 48, "prices": {"EUR": "1.99"}, "items": [42]},
    "gem": {"type": "one_time", "prices": {"EUR": "1.00"}},
}
GROUPS = {"kids": frozenset({"7", "8"})}
TERMS = media_terms(PRODUCTS, GROUPS)
NOW = 1_800_000_000
H = 3600


def test_no_grant_no_access() -> None:
    d = decide([], TERMS, "42", None, NOW)
    assert d.as_dict() == {
        "access": False,
        "reason": "no_entitlement",
        "valid_until": None,
        "via": None,
    }


def test_subscription_star_covers_every_item_until_valid_until() -> None:
    g = Grant("subscription", "basic", "subscription:s1", NOW - H, NOW + H)
    assert decide([g], TERMS, "999", "video", NOW).as_dict() == {
        "access": True,
        "reason": "subscription",
        "valid_until": NOW + H,
        "via": "subscription:s1",
    }
    after = decide([g], TERMS, "999", "video", NOW + H)
    assert (after.access, after.reason, after.valid_until) == (False, "expired", NOW + H)


def test_groups_and_streamtypes() -> None:
    g = Grant("subscription", "kids", "subscription:k", NOW - H, NOW + H)
    assert decide([g], TERMS, "7", "video", NOW).access
    assert decide([g], TERMS, "7", None, NOW).access
    assert not decide([g], TERMS, "7", "audio", NOW).access
    assert not decide([g], TERMS, "42", "video", NOW).access


def test_ownage_is_forever_and_wins_over_a_rental() -> None:
    rent = Grant("ppv", "rent42", "transaction:1", NOW - H, NOW + 47 * H)
    own = Grant("ownage", "movie42", "transaction:2", NOW, None)
    d = decide([rent, own], TERMS, "42", None, NOW + 10 * 365 * 24 * H)
    assert (d.access, d.reason, d.valid_until, d.via) == (True, "ownage", None, "transaction:2")
    assert not decide([own], TERMS, "43", None, NOW).access


def test_ppv_ends_and_stays_listed_with_its_end() -> None:
    rent = Grant("ppv", "rent42", "transaction:1", NOW, NOW + 48 * H)
    assert decide([rent], TERMS, "42", None, NOW + 48 * H - 1).reason == "ppv"
    ended = decide([rent], TERMS, "42", None, NOW + 48 * H)
    assert (ended.access, ended.reason, ended.valid_until) == (False, "expired", NOW + 48 * H)
    rows = listing([rent], NOW + 49 * H)
    assert rows == [
        {
            "kind": "ppv",
            "product": "rent42",
            "via": "transaction:1",
            "starts_at": NOW,
            "ends_at": NOW + 48 * H,
            "active": False,
            "premium": False,
        }
    ]


def test_grants_of_unknown_or_non_media_products_give_nothing() -> None:
    g = Grant("ownage", "gem", "transaction:9", NOW, None)
    assert not decide([g], TERMS, "42", None, NOW).access


def test_config_problems_are_named() -> None:
    bad: dict[str, dict[str, Any]] = {
        "x": {"type": "ppv", "prices": {"EUR": "1"}, "items": ["group:nope"]},
        "y": {"type": "subscription", "duration_months": 0, "prices": {"EUR": "1"}},
        "z": {"type": "ownage", "prices": {"EUR": "1"}, "items": "42"},
    }
    assert product_problems(bad, {}) == [
        "products.x.ppv_hours: expected a positive integer of hours",
        "products.x.items: unknown item group 'nope'",
        "products.y.duration_months: expected a positive integer",
        'products.z.items: expected a list of item ids, "*" or "group:NAME"',
    ]
