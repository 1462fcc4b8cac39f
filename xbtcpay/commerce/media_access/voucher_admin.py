"""Creating vouchers from a request (``voucher.create`` and ``xbtcpay vouchers create``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.media_access import params as media_params
from xbtcpay.commerce.media_access.voucher_store import VoucherStore, describe
from xbtcpay.commerce.media_access.vouchers import code_hash, normalize_code, parse_grants
from xbtcpay.core.errors import Conflict, ConstraintViolation, InvalidParams

log = structlog.get_logger("xbtcpay.commerce.vouchers")


def _optional_count(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**9:
        raise InvalidParams(f"{name} must be a positive integer")
    return value


async def create_voucher(
    store: VoucherStore,
    products: Mapping[str, Mapping[str, Any]],
    currencies: Currencies,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """Validate ``{code | reference, grants, valid_from?, valid_until?, max_uses?,
    max_uses_per_customer?}`` and store the voucher with its code hashed."""
    code, ref = params.get("code"), params.get("reference")
    if (code is None) == (ref is None):
        raise InvalidParams("give exactly one of code or reference")
    grants = parse_grants(params.get("grants"), products, currencies)
    limits = {k: _optional_count(params, k) for k in ("max_uses", "max_uses_per_customer")}
    window = {k: media_params.timestamp(params, k) for k in ("valid_from", "valid_until")}
    if (
        window["valid_from"]
        and window["valid_until"]
        and window["valid_from"] >= window["valid_until"]
    ):
        raise InvalidParams("valid_from must be before valid_until")
    code_digest = code_hash(normalize_code(code), "code") if code is not None else None
    ref_digest = (
        code_hash(normalize_code(ref, "reference"), "reference") if ref is not None else None
    )
    try:
        voucher = await store.create(
            code_hash=code_digest, reference_hash=ref_digest, grants=grants, **window, **limits
        )
    except ConstraintViolation:
        raise Conflict("a voucher with this code already exists") from None
    log.info("voucher.created", voucher_id=voucher.id, grants=sorted(grants))
    return describe(voucher)
