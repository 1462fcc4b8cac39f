"""The config sections the payment core reads: assets, wallet, payments, postback.

Each layer owns the dataclasses of its sections and reads them with the ``Reader``
defined here, so every problem is one ``where: why`` line in the same list and the
root (``xbtcpay.app.config``) only assembles them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from xbtcpay.core.amounts import parse_amount
from xbtcpay.core.secrets import Secret, resolve_secret

if TYPE_CHECKING:
    from pathlib import Path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Confirmations = int | Literal["finalized", "safe"]
BLOCK_TAGS = ("finalized", "safe")  # confirmations that follow the node's block tags
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}\Z")
_ASSET_NAME = re.compile(r"^[a-z0-9_]{1,32}\Z")
_ASSET_KEYS = ("chain", "contract", "decimals", "native", "max_amount", "confirmations", "symbol")
_POSTBACK_KEYS = (
    "secret",
    "timeout",
    "max_age",
    "base_delay",
    "max_delay",
    "concurrency",
    "events",
    "allow_private",
)


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class AssetConfig:
    name: str
    decimals: int
    contract: str | None = None
    native: bool = False
    max_amount: Decimal | None = None
    confirmations: Confirmations | None = None
    symbol: str = ""
    chain: str | None = None  # the key of its chain in ``chains:`` (None: the only chain)


@dataclass(frozen=True)
class WalletConfig:
    xpub: str
    first_index: int = 0


@dataclass(frozen=True)
class PaymentsConfig:
    expire_after: int = 86400
    late_window: int = 7 * 86400
    max_expire: int = 30 * 86400


ON_EXPIRY = ("requote", "expire")


@dataclass(frozen=True)
class PricingConfig:
    """Invoices priced in fiat (``pricing:``): how long a quote holds, how short of it a
    payment may fall and still be paid, and what happens when a quote runs out unpaid."""

    lock: int = 900  # seconds a quoted crypto amount holds
    tolerance: Decimal = Decimal("0.5")  # percent of the quoted amount a payment may lack
    on_expiry: str = "requote"  # requote | expire


DEFAULT_POSTBACK_EVENTS = (
    "paid",
    "reorged",
    "refunded",
    "partially_refunded",
    "disputed",
    "charged_back",
    "failed",
)


@dataclass(frozen=True)
class PostbackConfig:
    secret: Secret
    timeout: float = 10.0
    max_age: int = 3 * 86400
    base_delay: float = 10.0
    max_delay: float = 3600.0
    concurrency: int = 32
    events: tuple[str, ...] = DEFAULT_POSTBACK_EVENTS
    allow_private: bool = False


class HasBaseUrl(Protocol):
    """The public port's address, which payment URLs are built on."""

    @property
    def base_url(self) -> str: ...


class HasChainId(Protocol):
    """The chain a crypto payment is made on (its URI names it)."""

    @property
    def chain_id(self) -> int: ...


class Network(HasChainId, Protocol):
    """A chain as payments show it: its config key, its chain id and its display name."""

    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...


class PaymentTerms(Protocol):
    """What the core JSON-RPC methods read: assets, limits and the URLs they answer."""

    @property
    def assets(self) -> Mapping[str, AssetConfig]: ...
    @property
    def default_asset(self) -> str: ...
    @property
    def payments(self) -> PaymentsConfig: ...
    @property
    def public(self) -> HasBaseUrl: ...
    @property
    def chain(self) -> HasChainId: ...
    def chain_of(self, asset: str) -> Network | None: ...


class ProcessorSettings(Protocol):
    """What the payment processor reads: default expiry, first address, postback events."""

    @property
    def payments(self) -> PaymentsConfig: ...
    @property
    def wallet(self) -> WalletConfig: ...
    @property
    def postback(self) -> PostbackConfig: ...


def unknown_keys(where: str, section: Mapping[Any, Any], known: Iterable[str]) -> list[str]:
    """One ``where.key: unknown key (typo?)`` line per key of ``section`` not in ``known``.

    A misspelled key would otherwise be ignored and its default silently used.
    """
    allowed = set(known)
    prefix = f"{where}." if where else ""
    return [f"{prefix}{key}: unknown key (typo?)" for key in section if key not in allowed]


class Reader:
    """Collects problems while reading typed values."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.problems: list[str] = []

    def bad(self, where: str, why: str) -> None:
        self.problems.append(f"{where}: {why}")

    def known(self, where: str, section: Mapping[Any, Any], keys: Iterable[str]) -> None:
        """Refuse every key of ``section`` (at ``where``) that is not one of ``keys``."""
        self.problems.extend(unknown_keys(where, section, keys))

    def int(self, where: str, value: Any, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.bad(where, f"expected an integer >= {minimum}, got {value!r}")
            return minimum
        return value

    def number(self, where: str, value: Any, minimum: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            self.bad(where, f"expected a number >= {minimum}, got {value!r}")
            return minimum
        return float(value)

    def listen(self, where: str, value: Any) -> Listen:
        match = re.match(r"^\[?([^\]]+?)\]?:(\d{1,5})\Z", str(value)) if value else None
        if not match or int(match.group(2)) > 65535:
            self.bad(where, f"expected HOST:PORT, got {value!r}")
            return Listen("127.0.0.1", 0)
        return Listen(match.group(1), int(match.group(2)))

    def networks(self, where: str, value: Any) -> tuple[IPNetwork, ...]:
        if not isinstance(value, list):
            self.bad(where, "expected a list of CIDRs")
            return ()
        nets: list[IPNetwork] = []
        for item in value:
            try:
                nets.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                self.bad(where, f"{item!r} is not an IP network (CIDR)")
        return tuple(nets)

    def strings(self, where: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.bad(where, "expected a list of non-empty strings")
            return ()
        return tuple(value)

    def confirmations(self, where: str, value: Any) -> Confirmations:
        if value == "finalized":
            return "finalized"
        if value == "safe":
            return "safe"
        return self.int(where, value, 1)

    def section(self, raw: Mapping[str, Any], name: str) -> dict[str, Any]:
        value = raw.get(name) or {}
        if not isinstance(value, dict):
            self.bad(name, "expected a mapping")
            return {}
        return value


def parse_assets(r: Reader, value: Any) -> dict[str, AssetConfig]:
    if not isinstance(value, dict) or not value:
        r.bad("assets", "expected at least one asset, e.g. 0xbtc: {contract: 0x..., decimals: 8}")
        return {}
    assets: dict[str, AssetConfig] = {}
    for name, spec in value.items():
        where = f"assets.{name}"
        if not isinstance(name, str) or not _ASSET_NAME.match(name):
            r.bad(where, "asset names are lowercase letters, digits and _")
            continue
        if not isinstance(spec, dict):
            r.bad(where, "expected a mapping")
            continue
        r.known(where, spec, _ASSET_KEYS)
        native = spec.get("native", False) is True
        contract = spec.get("contract")
        if not native and not (isinstance(contract, str) and _ADDRESS.match(contract)):
            r.bad(f"{where}.contract", f"expected a 0x-prefixed 20-byte address, got {contract!r}")
        decimals = r.int(f"{where}.decimals", spec.get("decimals", 18 if native else None), 0)
        if decimals > 36:
            r.bad(f"{where}.decimals", "at most 36")
        max_amount = None
        if spec.get("max_amount") is not None:
            max_amount = parse_amount(str(spec["max_amount"]), decimals=decimals, max_amount=None)
            if max_amount is None:
                r.bad(f"{where}.max_amount", "expected a positive decimal string")
        conf = spec.get("confirmations")
        chain = spec.get("chain")
        if chain is not None and not (isinstance(chain, str) and _ASSET_NAME.match(chain)):
            r.bad(f"{where}.chain", f"expected the name of a chain in chains:, got {chain!r}")
            chain = None
        assets[name] = AssetConfig(
            name=name,
            decimals=decimals,
            contract=None if native else contract,
            native=native,
            max_amount=max_amount,
            confirmations=None if conf is None else r.confirmations(f"{where}.confirmations", conf),
            symbol=str(spec.get("symbol", name.upper())),
            chain=chain,
        )
    return assets


def parse_payments(r: Reader, s: dict[str, Any]) -> PaymentsConfig:
    r.known("payments", s, ("expire_after", "late_window", "max_expire"))
    return PaymentsConfig(
        expire_after=r.int("payments.expire_after", s.get("expire_after", 86400), 1),
        late_window=r.int("payments.late_window", s.get("late_window", 7 * 86400), 0),
        max_expire=r.int("payments.max_expire", s.get("max_expire", 30 * 86400), 1),
    )


def parse_pricing(r: Reader, s: dict[str, Any]) -> PricingConfig:
    r.known("pricing", s, ("lock", "tolerance", "on_expiry"))
    lock = r.int("pricing.lock", s.get("lock", 900), 30)
    raw_tolerance = s.get("tolerance", "0.5")
    tolerance = Decimal("0.5")
    if isinstance(raw_tolerance, int) and not isinstance(raw_tolerance, bool):
        raw_tolerance = str(raw_tolerance)
    parsed = (
        parse_amount(raw_tolerance, decimals=4, max_amount=Decimal(50))
        if raw_tolerance not in ("0", "0.0")
        else Decimal(0)
    )
    if parsed is None:
        r.bad("pricing.tolerance", f"expected a percent string from 0 to 50, got {raw_tolerance!r}")
    else:
        tolerance = parsed
    on_expiry = s.get("on_expiry", "requote")
    if on_expiry not in ON_EXPIRY:
        r.bad("pricing.on_expiry", f"expected one of {', '.join(ON_EXPIRY)}, got {on_expiry!r}")
        on_expiry = "requote"
    return PricingConfig(lock=lock, tolerance=tolerance, on_expiry=str(on_expiry))


def parse_postback(r: Reader, s: dict[str, Any]) -> PostbackConfig | None:
    r.known("postback", s, _POSTBACK_KEYS)
    if "secret" not in s:
        r.bad("postback.secret", "required: a literal, {env: NAME} or {file: PATH}")
        return None
    secret = resolve_secret(s["secret"], r.base_dir, "postback.secret", r.problems)
    events = s.get("events", list(DEFAULT_POSTBACK_EVENTS))
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        r.bad("postback.events", "expected a list of event names")
        events = list(DEFAULT_POSTBACK_EVENTS)
    if secret is None:
        return None
    return PostbackConfig(
        secret=secret,
        timeout=r.number("postback.timeout", s.get("timeout", 10), 0.1),
        max_age=r.int("postback.max_age", s.get("max_age", 3 * 86400), 1),
        base_delay=r.number("postback.base_delay", s.get("base_delay", 10), 0.01),
        max_delay=r.number("postback.max_delay", s.get("max_delay", 3600), 0.01),
        concurrency=r.int("postback.concurrency", s.get("concurrency", 32), 1),
        events=tuple(events),
        allow_private=s.get("allow_private", False) is True,
    )
