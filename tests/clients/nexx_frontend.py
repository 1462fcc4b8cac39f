"""A nexxOMNIA frontend's payment calls, written from nexx's payment endpoint page alone.

What a frontend team writes against ``https://api.nexx.cloud``: every operation a POST of
form fields (a form bridge sends every value as text: flags "1"/"0", numbers as digits),
``cancelsubscription`` a DELETE with its parameters in the query string, the user's session
in ``X-Request-CID`` and a call signature in ``X-Request-Token``; every answer read as nexx's
response object. Pointing it at xbtcpay changes only ``base_url``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import aiohttp

NEXX_BASE_URL = "https://api.nexx.cloud"


@dataclass(frozen=True)
class NexxAnswer:
    http_status: int
    metadata: dict[str, Any]
    result: Any

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.metadata["status"] == 200


def _form(params: dict[str, Any]) -> dict[str, str]:
    """Every value as a form field's text; None leaves the field out."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        out[name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return out


class NexxPaymentClient:
    """One user's (``cid``) or one backend's payment calls."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        domain_id: str | None = None,
        cid: str | None = None,
        api_secret: str = "frontend-secret",  # noqa: S107 - a test client's made-up secret
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.domain_id = domain_id
        self.cid = cid
        self.api_secret = api_secret
        self.extra = extra or {}  # fields every call carries (a backend's customer, say)

    def url(self, operation: str) -> str:
        domain = f"/{self.domain_id}" if self.domain_id else ""
        return f"{self.base_url}/v3.1{domain}/payment/{operation}"

    def headers(self, operation: str) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.cid:
            out["X-Request-CID"] = self.cid
            token = hashlib.md5(  # noqa: S324 - nexx's signature scheme, not ours
                (operation + (self.domain_id or "") + self.api_secret).encode()
            ).hexdigest()
            out["X-Request-Token"] = token
        return out

    async def _post(self, operation: str, params: dict[str, Any]) -> NexxAnswer:
        async with self.session.post(
            self.url(operation),
            data=_form({**self.extra, **params}),
            headers=self.headers(operation),
        ) as resp:
            return await _read(resp)

    async def itemstate(
        self, item: int, streamtype: str = "video", perform: bool | None = None
    ) -> NexxAnswer:
        return await self._post(
            "itemstate",
            {"item": item, "streamtype": streamtype, "performTransactionIfPossible": perform},
        )

    async def redeemvoucher(
        self, vouchercode: str | None = None, referencecode: str | None = None
    ) -> NexxAnswer:
        return await self._post(
            "redeemvoucher", {"vouchercode": vouchercode, "referencecode": referencecode}
        )

    async def preparetransaction(self, **params: Any) -> NexxAnswer:
        """operation, item, streamtype, reference, amount, currency, provider, paymentType,
        affiliateParam, subscriptionDuration, subscriptionIsPremium, subscriptionWillRenew,
        subscriptionCanRenew, subscriptionWillBePayedMonthly, capturePaymentOn."""
        return await self._post("preparetransaction", params)

    async def finishtransaction(self, **params: Any) -> NexxAnswer:
        """transactionID, token, reference, paymentType, finalPayment, isLatePremium,
        externalUserID, externalTransactionReference."""
        return await self._post("finishtransaction", params)

    async def verifyinapptransaction(self, **params: Any) -> NexxAnswer:
        """operation, item, streamtype, provider, amount, currency, amount_original,
        isPremium, receipt."""
        return await self._post("verifyinapptransaction", params)

    async def addexternalsubscription(self, valid_until: int, is_premium: bool) -> NexxAnswer:
        return await self._post(
            "addexternalsubscription", {"validUntil": valid_until, "isPremium": is_premium}
        )

    async def upgradesubscription(self, transaction_id: str, amount: int) -> NexxAnswer:
        return await self._post(
            "upgradesubscription", {"transactionID": transaction_id, "amount": amount}
        )

    async def cancelsubscription(
        self,
        transaction_id: int,
        cancel_transaction: bool = False,
        skip_email: bool = False,
        reason_text: str | None = None,
    ) -> NexxAnswer:
        params = _form(
            {
                **self.extra,
                "transactionID": transaction_id,
                "cancelTransaction": cancel_transaction,
                "skipEmail": skip_email,
                "reasonText": reason_text,
            }
        )
        async with self.session.delete(
            self.url("cancelsubscription"), params=params, headers=self.headers("cancel")
        ) as resp:
            return await _read(resp)


async def _read(resp: aiohttp.ClientResponse) -> NexxAnswer:
    body = await resp.json(content_type=None)
    return NexxAnswer(resp.status, dict(body["metadata"]), body["result"])
