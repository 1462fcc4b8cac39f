"""Legacy receipts: Apple's verifyReceipt endpoint (deprecated by Apple, kept for old apps).

Apple's rule: send every receipt to production first; status 21007 means "this is a sandbox
receipt", retry at the sandbox URL. A production shop accepts that retry only with
``accept_sandbox: true`` (App Review buys with sandbox receipts).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import aiohttp
import structlog

from xbtcpay.plugin_api import ProviderError
from xbtcpay_appstore.purchase import Purchase, Refused, from_receipt
from xbtcpay_appstore.settings import AppStoreSettings

log = structlog.get_logger("xbtcpay.plugins.appstore")
SANDBOX_RECEIPT = 21007
STATUS_REASONS = {
    21000: "request to the App Store was not made correctly",
    21002: "receipt data malformed",
    21003: "receipt could not be authenticated",
    21004: "shared secret does not match",
    21006: "subscription has expired",
    21008: "production receipt sent to the sandbox",
    21010: "receipt could not be authorized",
}
RETRYABLE = {21005, 21009} | set(range(21100, 21200))
MAX_RECEIPT_BYTES = 512 * 1024


def check_receipt_text(receipt: str) -> None:
    """Refuse what cannot be a base64 receipt before calling Apple."""
    if len(receipt) > MAX_RECEIPT_BYTES * 4 // 3 + 4:
        raise Refused("receipt too large")
    try:
        base64.b64decode(receipt, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused("receipt is neither a signed transaction nor base64") from exc


async def verify_receipt(
    session: aiohttp.ClientSession, settings: AppStoreSettings, receipt: str
) -> list[Purchase]:
    """Purchases of a verified legacy receipt, newest first; Refused or ProviderError else."""
    check_receipt_text(receipt)
    body: dict[str, Any] = {"receipt-data": receipt, "exclude-old-transactions": True}
    if settings.shared_secret:
        body["password"] = settings.shared_secret
    if settings.environment == "Sandbox":
        answer, env = await _post(session, settings.verify_receipt_sandbox_url, body), "Sandbox"
    else:
        answer, env = await _post(session, settings.verify_receipt_url, body), "Production"
        if answer.get("status") == SANDBOX_RECEIPT:
            if not settings.accept_sandbox:
                raise Refused("sandbox receipt refused in production")
            answer = await _post(session, settings.verify_receipt_sandbox_url, body)
            env = "Sandbox"
    return _purchases(answer, settings, env)


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        async with session.post(url, json=body) as resp:
            if resp.status != 200:
                raise ProviderError(f"App Store answered HTTP {resp.status}")
            answer = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("appstore.verify_receipt_failed", error=type(exc).__name__)
        raise ProviderError("App Store receipt verification unavailable") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), int):
        raise ProviderError("App Store answered without a status")
    return answer


def _purchases(answer: dict[str, Any], settings: AppStoreSettings, env: str) -> list[Purchase]:
    status = answer["status"]
    if status in RETRYABLE:
        raise ProviderError(f"App Store could not verify the receipt now (status {status})")
    if status != 0:
        raise Refused(STATUS_REASONS.get(status, f"App Store status {status}"))
    receipt = answer.get("receipt")
    if not isinstance(receipt, dict) or receipt.get("bundle_id") != settings.bundle_id:
        raise Refused("receipt belongs to another app (bundle id)")
    answer_env = answer.get("environment", env)
    if answer_env != env:
        raise Refused(f"receipt environment {answer_env} does not match")
    items = answer.get("latest_receipt_info") or receipt.get("in_app") or []
    if not isinstance(items, list):
        raise Refused("receipt lists no purchases")
    purchases = [from_receipt(item, env) for item in items if isinstance(item, dict)]
    if not purchases:
        raise Refused("receipt lists no purchases")
    return sorted(purchases, key=lambda p: p.purchase_date or 0, reverse=True)
