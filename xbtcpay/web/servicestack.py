"""ServiceStack's conventions, as its clients expect them of ``POST /User/Purchase``.

- **Formats.** A request body is JSON, or JSV when it says ``Content-Type: text/jsv`` (or
  says neither and JSV was asked for). The answer's format is, first to decide: the path's
  ``.json``/``.jsv`` suffix, ``?format=json|jsv``, the ``Accept`` header, the request's own
  format; JSON otherwise.
- **Names.** Property names match case-insensitively (ServiceStack's binding), so
  ``purchaseToken`` is ``PurchaseToken``; a flag is JSON ``true``/``false`` or JSV
  ``True``/``False`` (any case), anything else is refused.
- **Numbers.** The receipt's decimals (``Total``, ``Tax``, ``AmountLessTax``) are written as
  numbers with exactly their digits (``11.00``), never through a float.
- **Errors.** An HTTP 4xx answer also carries ``ResponseStatus {ErrorCode, Message, Errors}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from aiohttp import web

from xbtcpay.core.jsonio import JsonError
from xbtcpay.core.jsonio import dumps as json_dumps
from xbtcpay.core.jsonio import loads as json_loads
from xbtcpay.web import jsv

Format = Literal["json", "jsv"]
JSV_TYPE: Final = "text/jsv"
FORMATS: Final = ("json", "jsv")
# The request's properties, in their documented spelling (plus xbtcpay's own additions).
PURCHASE_FIELDS: Final = (
    "PurchaseToken",
    "Card",
    "Product",
    "UseStoredCard",
    "UseDiamonds",
    "Token",
    "Currency",
    "Provider",
    "PaymentNonce",
    "TaxCountry",
    "customer",
)
NESTED_FIELDS: Final = {
    "Card": ("Number", "Month", "Year", "CCV"),
    "Product": ("Token",),
    "Token": ("Type", "Token"),
}
FLAGS: Final = ("UseStoredCard", "UseDiamonds")
RECEIPT_DECIMALS: Final = ("Total", "Tax", "AmountLessTax")


class BadRequest(Exception):
    """A body ServiceStack would not bind; the message says why, ``field`` names the
    property when one is to blame (``ResponseStatus.Errors``)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def errors(self) -> list[dict[str, str]]:
        if self.field is None:
            return []
        return [{"ErrorCode": "Invalid", "FieldName": self.field, "Message": str(self)}]


def answer_format(request: web.Request, suffix: str | None) -> Format:
    """The format the answer is written in (see the module docstring)."""
    if suffix in FORMATS:
        return "jsv" if suffix == "jsv" else "json"
    asked = request.query.get("format", "").lower()
    if asked in FORMATS:
        return "jsv" if asked == "jsv" else "json"
    accept = request.headers.get("Accept", "").lower()
    if JSV_TYPE in accept:
        return "jsv"
    if "application/json" in accept:
        return "json"
    return "jsv" if request.content_type == JSV_TYPE else "json"


def read_body(raw: bytes, content_type: str, wanted: Format) -> Any:
    """The body's value: JSV for ``text/jsv`` (or no JSON type with JSV asked for), else JSON."""
    reads_jsv = content_type == JSV_TYPE or (wanted == "jsv" and not content_type.endswith("json"))
    try:
        if reads_jsv:
            return jsv.loads(raw.decode("utf-8"))
        return json_loads(raw)
    except (JsonError, jsv.JsvError, UnicodeDecodeError):
        raise BadRequest(f"body must be {'JSV' if reads_jsv else 'JSON'}") from None


def bind_purchase(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with its names in their documented spelling and its flags as booleans.

    Unknown names are kept as they are (the raw-card scan still sees them)."""
    out = _canonical(body, PURCHASE_FIELDS)
    for name, fields in NESTED_FIELDS.items():
        if isinstance(out.get(name), Mapping):
            out[name] = _canonical(out[name], fields)
    for name in FLAGS:
        if name in out:
            out[name] = _flag(name, out[name])
    return out


def _canonical(body: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    spelled = {name.lower(): name for name in names}
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = spelled.get(key.lower(), key) if isinstance(key, str) else key
        if name in out:
            raise BadRequest(f"{name} given twice", name)
        out[name] = value
    return out


def _flag(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"{name} must be true or false", name)


def with_decimals(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The answer with the receipt's amounts as exact decimal numbers."""
    out = dict(answer)
    receipt = out.get("Receipt")
    amount = receipt.get("Amount") if isinstance(receipt, Mapping) else None
    if isinstance(receipt, Mapping) and isinstance(amount, Mapping):
        out["Receipt"] = {
            **receipt,
            "Amount": {
                key: _decimal(value) if key in RECEIPT_DECIMALS else value
                for key, value in amount.items()
            },
        }
    return out


def _decimal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    return number if number.is_finite() else value


def with_status(
    answer: Mapping[str, Any], error_code: str, message: str, errors: list[dict[str, str]] | None
) -> dict[str, Any]:
    """The answer of an HTTP error with ServiceStack's ``ResponseStatus``."""
    status = {"ErrorCode": error_code, "Message": message, "Errors": errors or []}
    return {**answer, "ResponseStatus": status}


def respond(body: Any, fmt: Format, status: int = 200) -> web.Response:
    """``body`` written in ``fmt`` (decimals as their exact digits in both)."""
    if fmt == "jsv":
        return web.Response(text=jsv.dumps(body), status=status, content_type=JSV_TYPE)
    return web.Response(text=json_dumps(body), status=status, content_type="application/json")
