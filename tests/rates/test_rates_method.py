"""``rates.get`` on the private port of a running daemon, over HTTP."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.exchanges import FakeExchange
from tests.harness import running_daemon


async def test_rates_get_answers_the_rate_and_its_sources_or_a_precise_refusal(
    tmp_path: Path,
) -> None:
    async with (
        FakeExchange("coinbase", {("ETH", "USD"): "3012.55"}) as cb,
        FakeExchange("kraken", {("ETHUSD", "USD"): "3013.05"}) as kr,
    ):
        overrides = {
            "assets": {"eth": {"native": True}},
            "rates": {
                "refresh": 30,
                "sources": {
                    "cb": {"type": "coinbase", "url": cb.url},
                    "kr": {"type": "kraken", "url": kr.url},
                },
            },
        }
        async with running_daemon(tmp_path, overrides) as d:
            reply = await d.call("rates.get", {"asset": "eth", "currency": "USD"})
            result = reply["result"]
            assert (result["asset"], result["currency"], result["rate"]) == ("eth", "USD", "3012.8")
            assert [s["source"] for s in result["sources"]] == ["cb", "kr"]
            assert [s["rate"] for s in result["sources"]] == ["3012.55", "3013.05"]

            kr.prices[("ETHUSD", "USD")] = "30130.50"
            cb.broken = None
            reply = await d.call("rates.get", {"asset": "eth", "currency": "EUR"})
            assert reply["error"]["code"] == -32012
            assert reply["error"]["message"] == (
                "no reliable rate for eth/EUR: no source has a fresh rate"
            )
            for params, field in (
                ({"asset": "doge", "currency": "USD"}, "asset"),
                ({"asset": "eth", "currency": "usd"}, "currency"),
                ({"asset": "eth", "currency": "USD", "at": 1}, "unknown parameter"),
            ):
                reply = await d.call("rates.get", params)
                assert reply["error"]["code"] == -32602 and field in reply["error"]["message"]
