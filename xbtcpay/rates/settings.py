"""The ``rates:`` section: where exchange rates come from, and how much they may disagree.

```yaml
rates:
  refresh: 30            # seconds a fetched rate is reused before it is fetched again
  max_spread: "2"        # percent between the highest and lowest fresh source of a pair
  sources:
    peg:   {type: fixed, rates: {usdc_base/USD: "1"}, guard: cb, guard_percent: "2"}
    cb:    {type: coinbase, url: "https://api.coinbase.com"}
    kr:    {type: kraken, pairs: {eth/USD: XETHZUSD}}
    cg:    {type: coingecko, ids: {eth: ethereum}}
    feeds: {type: chainlink, chain: l1, max_age: 3600, feeds: {eth/USD: "0x..."}}
    pool:  {type: dex, chain: l1, pair: "0x...", base: 0xbtc, quote: eth}
```

A pair is written ``ASSET/CURRENCY``: an asset of ``assets:`` and an ISO 4217 code. Every
number is read as a Decimal from its text; a float in the YAML (``rates: {eth/USD: 1.5}``)
is refused, because its text is already gone.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from xbtcpay.core.settings import Reader

SourceKind = Literal["fixed", "coinbase", "kraken", "coingecko", "chainlink", "dex"]
KINDS: tuple[SourceKind, ...] = ("fixed", "coinbase", "kraken", "coingecko", "chainlink", "dex")
TICKER_HOSTS = {
    "coinbase": "https://api.coinbase.com",
    "kraken": "https://api.kraken.com",
    "coingecko": "https://api.coingecko.com",
}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_COMMON = {"type", "max_age", "timeout"}
_KEYS: Mapping[SourceKind, set[str]] = {
    "fixed": {"rates", "guard", "guard_percent"},
    "coinbase": {"url", "symbols"},
    "kraken": {"url", "pairs"},
    "coingecko": {"url", "ids"},
    "chainlink": {"chain", "feeds"},
    "dex": {"chain", "pair", "pool", "base", "quote", "twap"},
}


@dataclass(frozen=True)
class Pair:
    """How many ``currency`` one ``asset`` is worth."""

    asset: str
    currency: str

    def __str__(self) -> str:
        return f"{self.asset}/{self.currency}"


@dataclass(frozen=True)
class SourceConfig:
    """One rate source. Which fields matter depends on ``kind``; the parser checks them."""

    name: str
    kind: SourceKind
    max_age: float  # seconds an answer stays usable (for chainlink: since the feed's update)
    timeout: float = 10.0
    url: str = ""
    fixed: Mapping[Pair, Decimal] = field(default_factory=dict)
    guard: str | None = None
    guard_percent: Decimal = Decimal(2)
    symbols: Mapping[str, str] = field(default_factory=dict)  # coinbase: asset -> ticker
    kraken_pairs: Mapping[Pair, str] = field(default_factory=dict)
    ids: Mapping[str, str] = field(default_factory=dict)  # coingecko: asset -> coin id
    chain: str | None = None
    feeds: Mapping[Pair, str] = field(default_factory=dict)  # chainlink aggregators
    contract: str = ""  # dex: the v2 pair or v3 pool
    pool_version: Literal[2, 3] = 2
    base: str = ""
    quote: str = ""
    twap: int = 1800  # dex v3: seconds of the time-weighted average


@dataclass(frozen=True)
class RatesConfig:
    refresh: float = 30.0
    max_spread: Decimal = Decimal(2)
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)


def parse_rates(
    r: Reader,
    raw: Any,
    assets: Collection[str],
    chains: Collection[str] | None = None,
) -> RatesConfig | None:
    """Read the optional ``rates`` section. ``chains``: the names a source may give in
    ``chain`` (None: only the one configured chain, so ``chain`` may be left out)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.bad("rates", "expected a mapping")
        return None
    r.known("rates", raw, ("refresh", "max_spread", "sources"))
    refresh = r.number("rates.refresh", raw.get("refresh", 30), 1.0)
    max_spread = _percent(r, "rates.max_spread", raw.get("max_spread", "2"))
    sources_raw = raw.get("sources") or {}
    if not isinstance(sources_raw, dict) or not sources_raw:
        r.bad("rates.sources", "expected a mapping of at least one source")
        return None
    sources: dict[str, SourceConfig] = {}
    for name, spec in sources_raw.items():
        source = _source(r, f"rates.sources.{name}", str(name), spec, assets, chains)
        if source is not None:
            sources[str(name)] = source
    for source in sources.values():
        if source.guard is not None and source.guard not in sources:
            r.bad(f"rates.sources.{source.name}.guard", f"no source named {source.guard!r}")
        if source.guard == source.name:
            r.bad(f"rates.sources.{source.name}.guard", "a source cannot guard itself")
    return RatesConfig(refresh=refresh, max_spread=max_spread, sources=sources)


def _source(
    r: Reader,
    where: str,
    name: str,
    spec: Any,
    assets: Collection[str],
    chains: Collection[str] | None,
) -> SourceConfig | None:
    if not isinstance(spec, dict):
        r.bad(where, "expected a mapping")
        return None
    kind = spec.get("type")
    if kind not in KINDS:
        r.bad(f"{where}.type", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        return None
    r.known(where, spec, _COMMON | _KEYS[kind])
    default_age = 3600.0 if kind == "chainlink" else 300.0
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "max_age": r.number(f"{where}.max_age", spec.get("max_age", default_age), 1.0),
        "timeout": r.number(f"{where}.timeout", spec.get("timeout", 10), 0.1),
    }
    if kind == "fixed":
        rates = _pair_map(r, f"{where}.rates", spec.get("rates"), assets, required=True)
        guard = spec.get("guard")
        if guard is not None and not isinstance(guard, str):
            r.bad(f"{where}.guard", "expected a source name")
            guard = None
        return SourceConfig(
            **common,
            fixed={pair: _rate(r, f"{where}.rates.{pair}", text) for pair, text in rates.items()},
            guard=guard,
            guard_percent=_percent(r, f"{where}.guard_percent", spec.get("guard_percent", "2")),
        )
    if kind in TICKER_HOSTS:
        url = _url(r, f"{where}.url", spec.get("url", TICKER_HOSTS[kind]))
        if kind == "coinbase":
            symbols = _asset_map(r, f"{where}.symbols", spec.get("symbols"), assets)
            return SourceConfig(**common, url=url, symbols=symbols)
        if kind == "kraken":
            pairs = _pair_map(r, f"{where}.pairs", spec.get("pairs"), assets, required=False)
            return SourceConfig(**common, url=url, kraken_pairs=_texts(r, where, pairs))
        ids = _asset_map(r, f"{where}.ids", spec.get("ids"), assets)
        if not ids:
            r.bad(f"{where}.ids", "expected a mapping of asset -> CoinGecko coin id")
        return SourceConfig(**common, url=url, ids=ids)
    chain = _chain(r, f"{where}.chain", spec.get("chain"), chains)
    if kind == "chainlink":
        feeds = _pair_map(r, f"{where}.feeds", spec.get("feeds"), assets, required=True)
        return SourceConfig(
            **common,
            chain=chain,
            feeds={p: _address(r, f"{where}.feeds.{p}", a) for p, a in feeds.items()},
        )
    return _dex(r, where, spec, common, chain, assets)


def _dex(
    r: Reader,
    where: str,
    spec: Mapping[str, Any],
    common: dict[str, Any],
    chain: str | None,
    assets: Collection[str],
) -> SourceConfig:
    if ("pair" in spec) == ("pool" in spec):
        r.bad(where, "expected exactly one of pair (Uniswap v2) or pool (Uniswap v3)")
    version: Literal[2, 3] = 3 if "pool" in spec else 2
    contract = _address(
        r, f"{where}.{'pool' if version == 3 else 'pair'}", spec.get("pair") or spec.get("pool")
    )
    base, quote = spec.get("base"), spec.get("quote")
    for key, value in (("base", base), ("quote", quote)):
        if value not in assets:
            r.bad(f"{where}.{key}", f"expected an asset of assets:, got {value!r}")
    if base == quote and base is not None:
        r.bad(where, "base and quote must differ")
    twap = r.int(f"{where}.twap", spec.get("twap", 1800), 60)
    if "twap" in spec and version == 2:
        r.bad(f"{where}.twap", "only a v3 pool keeps a time-weighted average")
    return SourceConfig(
        **common,
        chain=chain,
        contract=contract,
        pool_version=version,
        base=str(base),
        quote=str(quote),
        twap=twap,
    )


def parse_pair(text: str) -> Pair | None:
    """``eth/USD`` -> Pair("eth", "USD"); None when it is not ASSET/CURRENCY."""
    asset, slash, currency = text.partition("/")
    if not slash or not asset or not _CURRENCY.match(currency):
        return None
    return Pair(asset, currency)


def _pair_map(
    r: Reader, where: str, value: Any, assets: Collection[str], *, required: bool
) -> dict[Pair, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        r.bad(where, "expected a mapping of ASSET/CURRENCY pairs")
        return {}
    out: dict[Pair, Any] = {}
    for key, item in value.items():
        pair = parse_pair(str(key))
        if pair is None:
            r.bad(f"{where}.{key}", "expected ASSET/CURRENCY, e.g. eth/USD")
        elif pair.asset not in assets:
            r.bad(f"{where}.{key}", f"unknown asset {pair.asset!r}")
        else:
            out[pair] = item
    return out


def _asset_map(r: Reader, where: str, value: Any, assets: Collection[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        r.bad(where, "expected a mapping of asset -> name")
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        if key not in assets:
            r.bad(f"{where}.{key}", f"unknown asset {key!r}")
        elif not isinstance(item, str) or not item:
            r.bad(f"{where}.{key}", "expected a non-empty string")
        else:
            out[str(key)] = item
    return out


def _texts(r: Reader, where: str, pairs: Mapping[Pair, Any]) -> dict[Pair, str]:
    out: dict[Pair, str] = {}
    for pair, item in pairs.items():
        if not isinstance(item, str) or not item:
            r.bad(f"{where}.pairs.{pair}", "expected the exchange's pair name, e.g. XETHZUSD")
        else:
            out[pair] = item
    return out


def _rate(r: Reader, where: str, value: Any) -> Decimal:
    rate = _decimal(r, where, value)
    if rate is not None and rate <= 0:
        r.bad(where, "expected a rate above 0")
    return rate if rate is not None else Decimal(1)


def _percent(r: Reader, where: str, value: Any) -> Decimal:
    percent = _decimal(r, where, value)
    if percent is None or percent < 0 or percent >= 100:
        if percent is not None:
            r.bad(where, f"expected a percentage in [0, 100), got {value!r}")
        return Decimal(2)
    return percent


def _decimal(r: Reader, where: str, value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        r.bad(where, f'expected a decimal string such as "1.5", got {value!r}')
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        r.bad(where, f"expected a decimal number, got {value!r}")
        return None
    return number


def _address(r: Reader, where: str, value: Any) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        r.bad(where, f"expected a 0x-prefixed 20-byte address, got {value!r}")
        return "0x" + "0" * 40
    return value


def _url(r: Reader, where: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        r.bad(where, f"expected an http(s) URL, got {value!r}")
        return ""
    return value.rstrip("/")


def _chain(r: Reader, where: str, value: Any, chains: Collection[str] | None) -> str | None:
    if value is None:
        if chains is not None and len(chains) > 1:
            r.bad(where, f"expected one of {', '.join(sorted(chains))}")
        return None
    if not isinstance(value, str) or chains is None or value not in chains:
        known = ", ".join(sorted(chains or ())) or "the configured chain (leave chain out)"
        r.bad(where, f"unknown chain {value!r}; expected {known}")
        return None
    return value
