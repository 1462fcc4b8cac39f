"""The rate book: fetches each source's answer at most once per ``refresh``, and turns the
fresh answers of a pair into one rate, or refuses.

Why a median and a spread limit: one source that is down, lagging or manipulated (a thin
pool, a compromised API) must not set the price. The median ignores a single outlier among
three; with two sources there is no majority, so the spread limit refuses when they
disagree by more than ``max_spread`` percent. A stale answer (older than its source's
``max_age``) does not count at all: no rate is better than an old one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, localcontext

import structlog

from xbtcpay.rates.fixed import FixedSource
from xbtcpay.rates.observation import (
    NoReliableRate,
    Observation,
    Rate,
    RateSource,
    SourceFailed,
    decimal_text,
)
from xbtcpay.rates.onchain import PoolSource
from xbtcpay.rates.settings import Pair, RatesConfig

log = structlog.get_logger("xbtcpay.rates")
KEEP_WARM = 3600.0  # seconds a pair asked for once is kept fresh by the refresh job
AGREED_FOR = 1.0  # seconds an agreed rate is reused by quotes (at most `refresh`)

_Key = tuple[str, Pair]


class RateBook:
    def __init__(
        self,
        config: RatesConfig,
        sources: Mapping[str, RateSource],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.refresh_after = config.refresh
        self.max_spread = config.max_spread
        self.sources = sources
        self.clock = clock
        self._last: dict[_Key, Observation] = {}  # the last good answer per source and pair
        self._tried: dict[_Key, float] = {}  # when each was last fetched (or tried)
        self._inflight: dict[_Key, asyncio.Future[Observation | None]] = {}
        self._wanted: dict[Pair, float] = {}
        self._agreed: dict[Pair, tuple[Rate, float]] = {}  # the last agreed rate, until when
        for source in sources.values():
            for pair in _configured_pairs(source):
                self._wanted[pair] = float("inf")  # configured pairs are always kept warm

    async def rate(self, pair: Pair) -> Rate:
        """The pair's rate now; raises NoReliableRate.

        An agreed rate is reused for up to ``AGREED_FOR`` seconds (never longer than
        ``refresh``, nor past the moment one of its observations stops being fresh): every
        invoice quotes from it, and the median of the same cached answers is the same."""
        now = self.clock()
        self._wanted[pair] = max(self._wanted.get(pair, 0.0), now)
        agreed = self._agreed.get(pair)
        if agreed is not None and now < agreed[1]:
            return agreed[0]
        rate = await self._rate(pair, pools=True)
        until = now + min(AGREED_FOR, self.refresh_after)
        for seen in rate.observations:
            until = min(until, seen.at + self.sources[seen.source].max_age)
        self._agreed[pair] = (rate, until)
        return rate

    async def refresh(self) -> None:
        """The leader's job: refetch every pair asked for within the last hour."""
        now = self.clock()
        for pair, asked in list(self._wanted.items()):
            if now - asked > KEEP_WARM:
                del self._wanted[pair]
                continue
            try:
                await self._rate(pair, pools=True)
            except NoReliableRate as exc:
                log.info("rates.refused", pair=str(pair), reason=exc.reason)

    async def _rate(self, pair: Pair, *, pools: bool) -> Rate:
        direct = [s for s in self.sources.values() if s.serves(pair) and not _is_pool(s)]
        via = [s for s in self.sources.values() if pools and _is_pool(s) and s.serves(pair)]
        if not direct and not via:
            raise NoReliableRate(pair, "no configured source quotes it")
        now = self.clock()
        answers = await asyncio.gather(*(self._observe(s, pair) for s in direct))
        fresh = [
            a for a, s in zip(answers, direct, strict=True) if a is not None and _fresh(a, s, now)
        ]
        for pool in via:
            combined = await self._through_pool(pool, pair, now)
            if combined is not None:
                fresh.append(combined)
        for answer in fresh:
            await self._check_peg(answer, now)
        if not fresh:
            raise NoReliableRate(pair, "no source has a fresh rate")
        return self._agree(pair, fresh)

    async def _through_pool(self, pool: RateSource, pair: Pair, now: float) -> Observation | None:
        """base/CURRENCY = (base in quote, from the pool) x (quote/CURRENCY, from the others)."""
        assert isinstance(pool, PoolSource)
        inner = Pair(pool.quote, pair.currency)
        try:
            quote_rate = await self._rate(inner, pools=False)
        except NoReliableRate as exc:
            log.info("rates.pool_unpriced", source=pool.name, pair=str(pair), reason=exc.reason)
            return None
        price = await self._observe(pool, Pair(pool.base, pool.quote))
        if not _fresh(price, pool, now):
            return None
        assert price is not None
        with localcontext() as ctx:
            ctx.prec = 50
            value = +(price.rate * quote_rate.value)
        return Observation(pool.name, pair, value, min(price.at, quote_rate.at), via=str(inner))

    async def _check_peg(self, answer: Observation, now: float) -> None:
        source = self.sources[answer.source]
        if not isinstance(source, FixedSource) or source.guard is None:
            return
        guard = self.sources[source.guard]
        live = await self._observe(guard, answer.pair) if guard.serves(answer.pair) else None
        if not _fresh(live, guard, now):
            raise NoReliableRate(answer.pair, f"the peg's guard {source.guard!r} has no fresh rate")
        assert live is not None
        off = abs(live.rate - answer.rate) / answer.rate * 100
        if off > source.guard_percent:
            raise NoReliableRate(
                answer.pair,
                f"{source.guard} says {decimal_text(live.rate)}, "
                f"{_pct(off)}% off the peg of {decimal_text(answer.rate)} "
                f"(guard_percent {decimal_text(source.guard_percent)})",
            )

    def _agree(self, pair: Pair, fresh: list[Observation]) -> Rate:
        values = sorted(a.rate for a in fresh)
        with localcontext() as ctx:
            ctx.prec = 50
            middle = len(values) // 2
            median = (
                values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
            )
            spread = (values[-1] - values[0]) / median * 100
        if spread > self.max_spread:
            detail = ", ".join(f"{a.source} {decimal_text(a.rate)}" for a in fresh)
            raise NoReliableRate(
                pair,
                f"sources disagree by {_pct(spread)}% (max_spread "
                f"{decimal_text(self.max_spread)}%): {detail}",
            )
        return Rate(pair, +median, tuple(sorted(fresh, key=lambda a: a.source)))

    async def _observe(self, source: RateSource, pair: Pair) -> Observation | None:
        """The source's answer for ``pair``: fetched at most once per ``refresh`` (one fetch
        at a time per source and pair); a failed fetch keeps the last good answer, which
        counts until it is older than the source's ``max_age``."""
        key = (source.name, pair)
        tried = self._tried.get(key)
        if tried is not None and self.clock() - tried < self.refresh_after:
            return self._last.get(key)
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Observation | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            now = self.clock()
            try:
                self._last[key] = await source.fetch(pair, now)
            except SourceFailed as exc:
                log.warning(
                    "rates.source_failed", source=source.name, pair=str(pair), reason=str(exc)
                )
            self._tried[key] = now
            future.set_result(self._last.get(key))
            return self._last.get(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters re-raise it
            raise
        finally:
            del self._inflight[key]


def _is_pool(source: RateSource) -> bool:
    return isinstance(source, PoolSource)


def _fresh(answer: Observation | None, source: RateSource, now: float) -> bool:
    return answer is not None and now - answer.at <= source.max_age


def _configured_pairs(source: RateSource) -> list[Pair]:
    if isinstance(source, FixedSource):
        return list(source.rates)
    feeds = getattr(source, "feeds", None)
    return list(feeds) if isinstance(feeds, Mapping) else []


def _pct(value: Decimal) -> str:
    return decimal_text(value.quantize(Decimal("0.01")))
