"""The last payment's wallet URI is kept, by the object asked about (never by its id)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from tests.harness import running_daemon


async def test_the_kept_uri_belongs_to_the_very_payment_object(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        started = await d.start_payment("1.5")
        core = d.runtime.core
        payment = await d.runtime.payments.get(started["id"])
        assert core.payment_uri(payment) == started["payment_uri"]
        assert started["payment_uri"].endswith("uint256=150000000")
        # the same id, another version: its own URI, never the one kept for the first
        part_paid = replace(payment, amount_received=Decimal("0.5"), version=payment.version + 1)
        assert core.payment_uri(part_paid) == core.handlers.payment_uri(part_paid)
        assert core.payment_uri(part_paid).endswith("uint256=100000000")
        assert core.payment_uri(payment) == started["payment_uri"]
        other = replace(payment, asset=payment.asset)  # equal, but another object
        assert core.payment_uri(other) == started["payment_uri"]


async def test_status_json_of_a_new_payment_names_the_answer_s_uri(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        first = await d.start_payment("2")
        second = await d.start_payment("3")
        for started in (first, second):
            status, body = await d.status(started["id"])
            assert status == 200 and body["payment_uri"] == started["payment_uri"]
        assert first["payment_uri"] != second["payment_uri"]
