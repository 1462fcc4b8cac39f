"""Prometheus metrics on the private port."""

from __future__ import annotations

from pathlib import Path

from tests.harness import running_daemon


async def test_metrics_show_payments_postbacks_and_latency(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await d.start_payment("1")
        await d.start_payment("2", postback_url="http://127.0.0.1:1/x")
        await d.call("cancel_payment", {"id": (await d.start_payment("3"))["id"]})
        async with d.session.get(d.rpc_url + "/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        assert 'xbtcpay_payments{status="new"} 2.0' in text
        assert 'xbtcpay_payments{status="canceled"} 1.0' in text
        assert 'xbtcpay_payment_transitions_total{event="canceled"} 1.0' in text
        assert 'xbtcpay_postback_queue{status="pending"} 0.0' in text
        assert 'xbtcpay_request_seconds_count{port="private",route="/"} 4.0' in text
