"""What the Google Play tests share: the fake Play API, config, calls and notifications."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.google_play import FakeGooglePlay, developer_notification, push_body
from tests.plugins.drivers.googleplay import (
    AUDIENCE,
    COINS,
    GOLD,
    PACKAGE,
    PRODUCTS,
    plugin_settings,
)

_messages = itertools.count(1)


@asynccontextmanager
async def fake_play() -> AsyncIterator[FakeGooglePlay]:
    """A running fake of Google's side for the test app."""
    fake = await FakeGooglePlay(package=PACKAGE).start()
    try:
        yield fake
    finally:
        await fake.stop()


def config(
    play: FakeGooglePlay, tmp_path: Path, products: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "plugins": {"googleplay": plugin_settings(play, tmp_path, **extra)},
        "products": products or PRODUCTS,
    }


async def validate(d: Any, token: str, product_id: str, **params: Any) -> dict[str, Any]:
    reply = await d.call(
        "payment.validateGooglePlay", {"purchase_token": token, "product_id": product_id, **params}
    )
    assert "result" in reply, reply
    return dict(reply["result"])


async def push(
    d: Any,
    play: FakeGooglePlay,
    notification: dict[str, Any],
    message_id: str | None = None,
    token: str | None = None,
    body: bytes | None = None,
) -> int:
    bearer = token if token is not None else play.signer.token(AUDIENCE)
    payload = (
        body if body is not None else push_body(notification, message_id or f"m{next(_messages)}")
    )
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    async with d.session.post(
        d.public_url + "/webhooks/googleplay", data=payload, headers=headers
    ) as resp:
        return int(resp.status)


def sub_note(
    token: str, kind: int, package: str = PACKAGE, subscription_id: str = GOLD
) -> dict[str, Any]:
    return developer_notification(
        package,
        subscriptionNotification={
            "version": "1.0",
            "notificationType": kind,
            "purchaseToken": token,
            "subscriptionId": subscription_id,
        },
    )


def one_time_note(token: str, kind: int) -> dict[str, Any]:
    return developer_notification(
        PACKAGE,
        oneTimeProductNotification={
            "version": "1.0",
            "notificationType": kind,
            "purchaseToken": token,
            "sku": COINS,
        },
    )


def voided_note(entry: dict[str, Any], product_type: int) -> dict[str, Any]:
    return developer_notification(
        PACKAGE,
        voidedPurchaseNotification={
            "purchaseToken": entry["purchaseToken"],
            "orderId": entry["orderId"],
            "productType": product_type,
            "refundType": entry["refundType"],
        },
    )


async def counts(d: Any) -> dict[str, int]:
    return dict(await d.runtime.payments.count_by_status())


async def event_count(d: Any) -> int:
    row = await d.runtime.db.fetchone("SELECT COUNT(*) FROM payment_events")
    return int(row[0])
