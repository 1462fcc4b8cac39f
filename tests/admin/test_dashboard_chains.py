"""The dashboard with several chains: the network of a payment, explorer links from each
chain's ``explorer`` URL (or the well-known one of its chain id), stray deposits on a
payment's page, the chain filter, and the volumes' fiat values from the rate sources."""

from __future__ import annotations

import secrets
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.admin.dashboard import add_user, browser
from tests.chain.multichain import start_daemon
from tests.harness import DaemonHandle, base_config, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.core.errors import ConfigError
from xbtcpay.core.persistence import UnitOfWork

USDC = "0x" + "ab" * 20


def _two_chains(tmp_path: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = base_config(tmp_path)
    raw.pop("chain")
    raw["chains"] = {
        "l1": {
            "chain_id": 31337,
            "rpc_urls": ["http://127.0.0.1:1"],
            "confirmations": 1,
            "explorer": "https://explorer.test/l1/",
        },
        "base": {"chain_id": 8453, "rpc_urls": ["http://127.0.0.1:1"], "confirmations": 1},
    }
    raw["assets"]["0xbtc"]["chain"] = "l1"
    raw["assets"]["usdc"] = {"chain": "base", "contract": USDC, "decimals": 6}
    raw.update(extra or {})
    return raw


async def _deposit(
    d: DaemonHandle, payment: dict[str, Any], chain: str, asset: str, tx_hash: str, stray: bool
) -> None:
    table = "stray_deposits" if stray else "deposits"

    async def work(uow: UnitOfWork) -> None:
        await uow.execute(
            f"INSERT INTO {table} (key, payment_id, asset, address, units, kind, tx_hash,"
            " block_number, block_hash, position, created_at, chain)"
            " VALUES (?, ?, ?, ?, 5, 'transfer', ?, 7, ?, 0, ?, ?)",
            (
                secrets.token_hex(8),
                payment["id"],
                asset,
                payment["address"],
                tx_hash,
                "0x" + "11" * 32,
                int(time.time()),
                chain,
            ),
        )

    await d.runtime.db.transact(work)


async def _paid(d: DaemonHandle, payment: dict[str, Any]) -> None:
    async def work(uow: UnitOfWork) -> None:
        await uow.execute(
            "UPDATE payments SET status = 'paid', amount_received = amount, paid_at = ?"
            " WHERE id = ?",
            (int(time.time()), payment["id"]),
        )

    await d.runtime.db.transact(work)


async def test_a_payments_network_explorer_links_and_stray_deposits(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        d = await start_daemon(stack, tmp_path, _two_chains(tmp_path))
        await add_user(d, "vic", "viewer")
        on_l1 = await d.start_payment("2", asset="0xbtc", order_id="ON-L1")
        on_base = await d.start_payment("3", asset="usdc", order_id="ON-BASE")
        paid_tx, stray_tx = "0x" + "aa" * 32, "0x" + "bb" * 32
        await _deposit(d, on_base, "base", "usdc", paid_tx, stray=False)
        await _deposit(d, on_base, "l1", "0xbtc", stray_tx, stray=True)  # the wrong chain
        await _deposit(d, on_l1, "l1", "0xbtc", "not-a-hash", stray=False)
        async with browser(d) as b:
            await b.login("vic")
            status, page = await b.get(f"/admin/payments/{on_base['id']}")
            assert status == 200
            assert "Base" in page  # the network by name, not only its number
            assert f'href="https://basescan.org/tx/{paid_tx}"' in page
            assert f'href="https://basescan.org/address/{on_base["address"]}"' in page
            strays = page.split('id="stray-deposits"')[1]
            assert f'href="https://explorer.test/l1/tx/{stray_tx}"' in strays  # its own chain
            _, page = await b.get(f"/admin/payments/{on_l1['id']}")
            assert 'id="stray-deposits"' not in page
            assert "not-a-hash" in page and "/tx/not-a-hash" not in page  # no link from it
            _, listed = await b.get("/admin/payments?chain=base")
            assert "ON-BASE" in listed and "ON-L1" not in listed
            _, listed = await b.get("/admin/payments?chain=l1&q=ON-BASE")
            assert "ON-BASE" not in listed.split("<tbody>")[1]
            _, listed = await b.get("/admin/payments?chain=nowhere")
            assert "ON-BASE" not in listed.split("<tbody>")[1]


async def test_the_overview_shows_volumes_in_fiat(tmp_path: Path) -> None:
    rates = {"rates": {"sources": {"peg": {"type": "fixed", "rates": {"0xbtc/EUR": "2.5"}}}}}
    raw = _two_chains(tmp_path, {**rates, "admin": {"currency": "EUR"}})
    async with AsyncExitStack() as stack:
        d = await start_daemon(stack, tmp_path, raw)
        await add_user(d, "vic", "viewer")
        for amount, asset in (("2.5", "0xbtc"), ("1.01", "0xbtc"), ("3", "usdc")):
            await _paid(d, await d.start_payment(amount, asset=asset))
        async with browser(d) as b:
            await b.login("vic")
            status, page = await b.get("/admin/")
        assert status == 200
        volumes = page.split("<tbody>")[1].split("</tbody>")[0]
        assert "EUR 8.78" in volumes  # 3.51 x 2.5 = 8.775, to the cent
        usdc = volumes.split(">usdc<")[1].split("</tr>")[0]
        assert "no rate" in usdc  # no source for usdc/EUR: shown, left out of the totals
        total = volumes.split('id="fiat-total"')[1]
        assert total.count("EUR 8.78") == 3  # today, 7 and 30 days


async def test_without_rate_sources_no_fiat_is_shown(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        d = await start_daemon(stack, tmp_path, _two_chains(tmp_path))
        await add_user(d, "vic", "viewer")
        await _paid(d, await d.start_payment("2.5", asset="0xbtc"))
        async with browser(d) as b:
            await b.login("vic")
            _, page = await b.get("/admin/")
        assert 'id="fiat-total"' not in page and "USD" not in page


@pytest.mark.parametrize(
    ("explorer", "problem"),
    [
        ("javascript:alert(1)", "chains.base.explorer"),
        ("https://basescan.org/?q=", "chains.base.explorer"),
        (42, "chains.base.explorer"),
    ],
)
def test_a_wrong_explorer_stops_start_up(tmp_path: Path, explorer: Any, problem: str) -> None:
    raw = _two_chains(tmp_path)
    raw["chains"]["base"]["explorer"] = explorer
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, write_config(tmp_path, raw))
    assert len(refused.value.problems) == 1 and problem in refused.value.problems[0]


def test_an_unknown_dashboard_currency_stops_start_up(tmp_path: Path) -> None:
    raw = _two_chains(tmp_path, {"admin": {"currency": "usd"}})
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, write_config(tmp_path, raw))
    assert len(refused.value.problems) == 1 and "admin.currency" in refused.value.problems[0]


async def test_an_invoices_page_shows_its_price_and_every_quote(tmp_path: Path) -> None:
    from tests.rates.invoicing import invoice_daemon

    async with invoice_daemon(tmp_path) as (d, _, _):
        await add_user(d, "vic", "viewer")
        reply = await d.call("start_payment", {"price": "19.99", "currency": "USD"})
        invoice = reply["result"]
        async with browser(d) as b:
            await b.login("vic")
            status, page = await b.get(f"/admin/payments/{invoice['id']}")
        assert status == 200
        facts = page.split('id="invoice"')[1].split("</dl>")[0]
        assert "USD 19.99" in facts
        quotes = page.split('id="quotes"')[1].split("</table>")[0]
        for option in invoice["options"]:
            assert f"{option['amount']} {option['asset']}" in quotes
            assert option["rate"] in quotes
