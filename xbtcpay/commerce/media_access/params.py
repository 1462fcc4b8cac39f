"""Parameters of the media access API's methods, under its (nexxOMNIA's) names, parsed into typed requests.

Booleans arrive as 1/0 (the API's "if set to 1"), true/false or "1"/"0"; media ids as
numbers or digit strings; amounts as integers in the currency's minor unit (cents for EUR);
every number (amounts, ids, durations, timestamps) also as its digits in a string, the form
a query string or a form field gives it.
Every refusal is an ``InvalidParams`` naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xbtcpay.core.errors import InvalidParams

OPERATIONS = ("subscription", "ppv", "ownage", "deposit")
INAPP_PROVIDERS = ("io", "go", "am")
_CUSTOMER = re.compile(r"^[\x21-\x7e]{1,128}\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_ITEM = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")
MAX_MINOR = 10**15
MAX_TEXT = 512


def customer_of(params: Mapping[str, Any]) -> str:
    """The call's customer: the shop's own id, 1-128 printable characters."""
    value = params.get("customer")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _CUSTOMER.match(value):
        raise InvalidParams("missing or invalid customer (1-128 printable characters)")
    return value


def flag(params: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value in (True, 1, "1", "true"):
        return True
    if value in (False, 0, "0", "false"):
        return False
    raise InvalidParams(f"{name} must be 0 or 1")


def text(
    params: Mapping[str, Any], name: str, *, required: bool = False, limit: int = MAX_TEXT
) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise InvalidParams(f"missing {name}")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidParams(f"{name} must be a string of at most {limit} characters")
    return value


def item_id(params: Mapping[str, Any], name: str = "item", *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise InvalidParams(f"missing {name}")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _ITEM.match(value):
        return value
    raise InvalidParams(f"{name} must be a media id")


def minor_amount(
    params: Mapping[str, Any], name: str, *, required: bool = True, allow_zero: bool = False
) -> int | None:
    """An amount in minor units: a non-negative integer (never a float)."""
    value = params.get(name)
    if value is None:
        if required:
            raise InvalidParams(f"missing {name}")
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= MAX_MINOR
        or (value == 0 and not allow_zero)
    ):
        raise InvalidParams(f"{name} must be an integer amount in the currency's minor unit")
    return value


def _whole(value: Any, digits: int) -> Any:
    """A number sent in its text form ("12", as form fields and query strings carry every
    value) as the int it spells; anything else unchanged, for the caller to judge."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= digits:
        return int(value)
    return value


def timestamp(params: Mapping[str, Any], name: str, *, required: bool = False) -> int | None:
    value = _whole(params.get(name), 12)
    if value is None or value == 0:
        if required:
            raise InvalidParams(f"missing {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**40:
        raise InvalidParams(f"{name} must be a UNIX timestamp in seconds")
    return value


def currency(params: Mapping[str, Any], *, required: bool = True) -> str | None:
    value = params.get("currency")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _CURRENCY.match(value.upper()):
        raise InvalidParams("currency must be an ISO 4217 code such as EUR")
    return value.upper()


def transaction_id(params: Mapping[str, Any]) -> int:
    value = params.get("transactionID")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise InvalidParams("missing or invalid transactionID")
    return value


@dataclass(frozen=True)
class ItemState:
    item: str
    streamtype: str | None
    perform: bool


def item_state(params: Mapping[str, Any]) -> ItemState:
    item = item_id(params)
    assert item is not None
    return ItemState(
        item, text(params, "streamtype", limit=32), flag(params, "performTransactionIfPossible")
    )


def voucher_code(params: Mapping[str, Any]) -> tuple[str, Any]:
    """("code" | "reference", the raw value): exactly one of vouchercode / referencecode."""
    code, ref = params.get("vouchercode"), params.get("referencecode")
    if (code in (None, "")) == (ref in (None, "")):
        raise InvalidParams("give exactly one of vouchercode or referencecode")
    return ("code", code) if code not in (None, "") else ("reference", ref)


@dataclass(frozen=True)
class Prepare:
    operation: str
    item: str | None
    streamtype: str | None
    reference: str | None
    amount: int
    currency: str
    provider: str
    payment_type: str | None
    affiliate: str | None
    duration: int | None
    premium: bool
    will_renew: bool
    can_renew: bool
    monthly: bool
    capture_on: int | None
    product: str | None


def prepare(params: Mapping[str, Any]) -> Prepare:
    operation = params.get("operation")
    if operation not in OPERATIONS:
        raise InvalidParams(f"operation must be one of {', '.join(OPERATIONS)}")
    item = item_id(
        params, required=operation in ("ppv", "ownage") and params.get("product") is None
    )
    duration = _whole(params.get("subscriptionDuration"), 3)
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 120
    ):
        raise InvalidParams("subscriptionDuration must be a number of months (1-120)")
    amount = minor_amount(params, "amount")
    assert amount is not None
    cur = currency(params)
    provider = text(params, "provider", required=True, limit=32)
    assert cur is not None and provider is not None
    return Prepare(
        operation=str(operation),
        item=item,
        streamtype=text(params, "streamtype", limit=32),
        reference=text(params, "reference", limit=128),
        amount=amount,
        currency=cur,
        provider=provider,
        payment_type=text(params, "paymentType", limit=32),
        affiliate=text(params, "affiliateParam", limit=256),
        duration=duration,
        premium=flag(params, "subscriptionIsPremium"),
        will_renew=flag(params, "subscriptionWillRenew", True),
        can_renew=flag(params, "subscriptionCanRenew", True),
        monthly=flag(params, "subscriptionWillBePayedMonthly", True),
        capture_on=timestamp(params, "capturePaymentOn"),
        product=text(params, "product", limit=64),
    )


@dataclass(frozen=True)
class Finish:
    transaction_id: int
    token: str | None
    reference: str | None
    payment_type: str | None
    final_payment: int | None
    late_premium: bool
    external_user_id: str | None
    external_reference: str | None


def finish(params: Mapping[str, Any]) -> Finish:
    return Finish(
        transaction_id=transaction_id(params),
        token=text(params, "token", limit=2048),
        reference=text(params, "reference", limit=128),
        payment_type=text(params, "paymentType", limit=32),
        final_payment=minor_amount(params, "finalPayment", required=False, allow_zero=True),
        late_premium=flag(params, "isLatePremium"),
        external_user_id=text(params, "externalUserID", limit=128),
        external_reference=text(params, "externalTransactionReference", limit=128),
    )


@dataclass(frozen=True)
class VerifyInApp:
    operation: str
    item: str | None
    streamtype: str | None
    provider: str
    amount: int | None
    currency: str | None
    amount_original: int | None
    premium: bool
    receipt: str


def verify_inapp(params: Mapping[str, Any]) -> VerifyInApp:
    operation = params.get("operation")
    if operation not in ("subscription", "ppv", "ownage"):
        raise InvalidParams("operation must be one of subscription, ppv, ownage")
    provider = params.get("provider")
    if provider not in INAPP_PROVIDERS:
        raise InvalidParams("provider must be one of io, go, am")
    receipt = text(params, "receipt", required=True, limit=65_536)
    assert receipt is not None
    return VerifyInApp(
        operation=str(operation),
        item=item_id(params, required=False),
        streamtype=text(params, "streamtype", limit=32),
        provider=str(provider),
        amount=minor_amount(params, "amount", required=False, allow_zero=True),
        currency=currency(params, required=False),
        amount_original=minor_amount(params, "amount_original", required=False, allow_zero=True),
        premium=flag(params, "isPremium"),
        receipt=receipt,
    )


@dataclass(frozen=True)
class AddExternal:
    valid_until: int
    premium: bool
    product: str | None


def add_external(params: Mapping[str, Any]) -> AddExternal:
    until = timestamp(params, "validUntil", required=True)
    assert until is not None
    return AddExternal(until, flag(params, "isPremium"), text(params, "product", limit=64))


@dataclass(frozen=True)
class Upgrade:
    reference: str
    amount: int
    subscription: str | None


def upgrade(params: Mapping[str, Any]) -> Upgrade:
    """``transactionID`` here is the provider's id of the additional payment (a string)."""
    ref = text(params, "transactionID", required=True, limit=128)
    amount = minor_amount(params, "amount", allow_zero=True)
    assert ref is not None and amount is not None
    return Upgrade(ref, amount, text(params, "subscription", limit=64))


@dataclass(frozen=True)
class Cancel:
    transaction_id: int
    cancel_transaction: bool
    skip_email: bool
    reason: str | None


def cancel(params: Mapping[str, Any]) -> Cancel:
    return Cancel(
        transaction_id(params),
        flag(params, "cancelTransaction"),
        flag(params, "skipEmail"),
        text(params, "reasonText", limit=1024),
    )
