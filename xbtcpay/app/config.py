"""Configuration: parsed once from YAML into frozen dataclasses.

Every problem is collected and reported as one line (``ConfigError.problems``), so
``xbtcpay check-config`` and a refused start-up print the same explanation.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml

from xbtcpay.commerce.media_access.products import product_problems
from xbtcpay.commerce.media_access.settings import MediaSettings, parse_media
from xbtcpay.commerce.settings import CommerceConfig, parse_commerce
from xbtcpay.core.amounts import parse_amount
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import ConfigError
from xbtcpay.core.secrets import Secret, resolve_secret
from xbtcpay.sweep.settings import SweepConfig, parse_sweep

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Confirmations = int | Literal["finalized"]
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_ASSET_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
DEFAULT_CONFIG = "config.yaml"
COMMERCE_SECTIONS = ("sessions", "currencies", "companies", "taxes")


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RpcConfig:
    listen: Listen
    ip_whitelist: tuple[IPNetwork, ...]
    trusted_proxies: tuple[IPNetwork, ...]
    max_body: int = 1_048_576
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    idle_timeout: float = 60.0
    header_timeout: float = 10.0
    max_connections_per_client: int = 0


@dataclass(frozen=True)
class PublicConfig:
    listen: Listen
    base_url: str
    cors_origins: tuple[str, ...]
    status_cache_size: int = 100_000
    status_cache_warm: bool = False
    idle_timeout: float = 15.0
    header_timeout: float = 10.0
    max_connections_per_client: int = 64


@dataclass(frozen=True)
class ChainConfig:
    rpc_urls: tuple[str, ...]
    chain_id: int
    confirmations: Confirmations
    poll_interval: float
    start_block: int | Literal["latest"] = "latest"
    max_block_range: int = 2000
    reorg_window: int = 128
    reconcile_interval: float = 30
    request_timeout: float = 10.0


@dataclass(frozen=True)
class AssetConfig:
    name: str
    decimals: int
    contract: str | None = None
    native: bool = False
    max_amount: Decimal | None = None
    confirmations: Confirmations | None = None
    symbol: str = ""


@dataclass(frozen=True)
class WalletConfig:
    xpub: str
    first_index: int = 0


@dataclass(frozen=True)
class PaymentsConfig:
    expire_after: int = 86400
    late_window: int = 7 * 86400
    max_expire: int = 30 * 86400


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


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True)
class ClusterConfig:
    """Several replicas on one PostgreSQL: the leader lease (see xbtcpay/cluster.py)."""

    lease_ttl: float = 10.0
    replica_id: str | None = None  # default: hostname:pid


@dataclass(frozen=True)
class Config:
    path: Path
    database: str
    rpc: RpcConfig
    public: PublicConfig
    chain: ChainConfig
    assets: dict[str, AssetConfig]
    default_asset: str
    wallet: WalletConfig
    payments: PaymentsConfig
    postback: PostbackConfig
    log: LogConfig = field(default_factory=LogConfig)
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    database_password: Secret | None = None
    database_pool_size: int = 10
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    commerce: CommerceConfig = field(default_factory=CommerceConfig)
    sweep: SweepConfig | None = None
    media: MediaSettings = field(default_factory=MediaSettings)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def confirmations_for(self, asset: str) -> Confirmations:
        own = self.assets[asset].confirmations
        return own if own is not None else self.chain.confirmations


def config_path(cli_value: str | None) -> Path:
    """-c/--config, else $XBTCPAY_CONFIG, else ./config.yaml."""
    return Path(cli_value or os.environ.get("XBTCPAY_CONFIG") or DEFAULT_CONFIG).resolve()


def load_config(path: Path) -> Config:
    """Read and validate ``path``; raise ConfigError with one line per problem."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML{_yaml_where(exc)}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    return parse_config(raw, path)


def _yaml_where(exc: yaml.YAMLError) -> str:
    """Line and column of a YAML error, never its snippet: the text there may be a secret."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return ""
    return f" at line {mark.line + 1}, column {mark.column + 1}"


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Validate an already-parsed mapping (tests build configs this way)."""
    r = _Reader(path.parent)
    database = _database(r, raw.get("database", "sqlite:///var/xbtcpay.db"))
    rpc = _rpc(r, _section(r, raw, "rpc"))
    public = _public(r, _section(r, raw, "public"))
    chain = _chain(r, _section(r, raw, "chain"))
    assets = _assets(r, raw.get("assets"))
    default_asset = raw.get("default_asset", next(iter(assets), ""))
    if assets and default_asset not in assets:
        r.bad("default_asset", f"{default_asset!r} is not one of assets: {', '.join(assets)}")
    wallet = _wallet(r, _section(r, raw, "wallet"))
    payments = _payments(r, _section(r, raw, "payments"))
    postback = _postback(r, _section(r, raw, "postback"))
    log = _log(r, _section(r, raw, "log"))
    plugins = _plain_mapping(r, raw, "plugins")
    products = _plain_mapping(r, raw, "products")
    r.problems.extend(Catalog.problems(products))
    sweep = parse_sweep(raw.get("sweep"), r.base_dir, r.problems)
    password, pool_size, cluster = _database_extras(r, raw, database)
    media, media_problems = parse_media(raw.get("commerce"), products)
    r.problems.extend(media_problems + product_problems(products, media.item_groups))
    known = {
        "database",
        "rpc",
        "public",
        "chain",
        "assets",
        "default_asset",
        "wallet",
        "payments",
        "postback",
        "log",
        "plugins",
        "products",
        "database_password",
        "database_pool_size",
        "cluster",
        "sweep",
        "commerce",
    }
    known.update(COMMERCE_SECTIONS)
    commerce = parse_commerce(raw, path.parent, r.problems)
    for key in raw:
        if key not in known:
            r.bad(str(key), "unknown key (typo?)")
    if r.problems:
        raise ConfigError(r.problems)
    assert rpc and public and chain and wallet and postback is not None
    return Config(
        path,
        database,
        rpc,
        public,
        chain,
        assets,
        str(default_asset),
        wallet,
        payments,
        postback,
        log,
        plugins,
        products,
        database_password=password,
        database_pool_size=pool_size,
        cluster=cluster,
        commerce=commerce,
        sweep=sweep,
        media=media,
    )


class _Reader:
    """Collects problems while reading typed values."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.problems: list[str] = []

    def bad(self, where: str, why: str) -> None:
        self.problems.append(f"{where}: {why}")

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
        match = re.match(r"^\[?([^\]]+?)\]?:(\d{1,5})$", str(value)) if value else None
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


def _section(r: _Reader, raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        r.bad(name, "expected a mapping")
        return {}
    return value


def _plain_mapping(r: _Reader, raw: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    value = _section(r, raw, name)
    out: dict[str, dict[str, Any]] = {}
    for key, item in value.items():
        if item is None:
            item = {}
        if not isinstance(item, dict):
            r.bad(f"{name}.{key}", "expected a mapping")
            continue
        out[str(key)] = item
    return out


def _database(r: _Reader, value: Any) -> str:
    if not isinstance(value, str):
        r.bad("database", "expected sqlite:///PATH or postgresql://...")
        return ""
    if value.startswith("sqlite:///"):
        target = value[len("sqlite:///") :]
        if target != ":memory:":
            target = str((r.base_dir / target).resolve())
        return "sqlite:///" + target
    if value.startswith(("postgresql://", "postgres://")):
        if not re.match(r"^postgres(ql)?://[^/?#]*[^/?#@]/[^/?#]+", value):
            r.bad("database", "expected postgresql://USER@HOST:PORT/DBNAME")
        return value
    r.bad("database", "unsupported URL; expected sqlite:///PATH or postgresql://...")
    return value


def _database_extras(
    r: _Reader, raw: dict[str, Any], database: str
) -> tuple[Secret | None, int, ClusterConfig]:
    """``database_password`` (a secret), ``database_pool_size``, the ``cluster`` section."""
    password = None
    if raw.get("database_password") is not None:
        password = resolve_secret(
            raw["database_password"], r.base_dir, "database_password", r.problems
        )
        if not database.startswith(("postgresql://", "postgres://")):
            r.bad("database_password", "only a postgresql:// database takes a password")
    pool_size = r.int("database_pool_size", raw.get("database_pool_size", 10), 1)
    s = _section(r, raw, "cluster")
    for key in s:
        if key not in ("lease_ttl", "replica_id"):
            r.bad(f"cluster.{key}", "unknown key (typo?)")
    ttl = r.number("cluster.lease_ttl", s.get("lease_ttl", 10.0), 1.0)
    replica = s.get("replica_id")
    if replica is not None and (not isinstance(replica, str) or not replica.strip()):
        r.bad("cluster.replica_id", "expected a non-empty string")
        replica = None
    return password, pool_size, ClusterConfig(lease_ttl=ttl, replica_id=replica)


def _rpc(r: _Reader, s: dict[str, Any]) -> RpcConfig:
    return RpcConfig(
        listen=r.listen("rpc.listen", s.get("listen", "127.0.0.1:8889")),
        ip_whitelist=r.networks(
            "rpc.ip_whitelist", s.get("ip_whitelist", ["127.0.0.1/32", "::1/128"])
        ),
        trusted_proxies=r.networks("rpc.trusted_proxies", s.get("trusted_proxies", [])),
        max_body=r.int("rpc.max_body", s.get("max_body", 1_048_576), 1024),
        allowed_origins=_strings(r, "rpc.allowed_origins", s.get("allowed_origins", [])),
        allowed_hosts=_strings(r, "rpc.allowed_hosts", s.get("allowed_hosts", [])),
        **_connection_limits(r, "rpc", s, idle=60.0, per_client=0),
    )


def _connection_limits(
    r: _Reader, port: str, s: dict[str, Any], *, idle: float, per_client: int
) -> dict[str, Any]:
    """``idle_timeout``, ``header_timeout`` and ``max_connections_per_client`` of one port."""
    return {
        "idle_timeout": r.number(f"{port}.idle_timeout", s.get("idle_timeout", idle), 0.1),
        "header_timeout": r.number(f"{port}.header_timeout", s.get("header_timeout", 10), 0.1),
        "max_connections_per_client": r.int(
            f"{port}.max_connections_per_client", s.get("max_connections_per_client", per_client), 0
        ),
    }


def _strings(r: _Reader, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        r.bad(where, "expected a list of non-empty strings")
        return ()
    return tuple(value)


def _public(r: _Reader, s: dict[str, Any]) -> PublicConfig:
    listen = r.listen("public.listen", s.get("listen", "0.0.0.0:8888"))
    base_url = s.get("base_url")
    if base_url is None:
        host = "127.0.0.1" if listen.host in ("0.0.0.0", "::") else listen.host  # noqa: S104
        base_url = f"http://{Listen(host, listen.port)}"
    elif not isinstance(base_url, str) or not re.match(r"^https?://[^\s/]+", base_url):
        r.bad("public.base_url", f"expected an http(s) URL or null, got {base_url!r}")
        base_url = ""
    origins = s.get("cors_origins", ["*"])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        r.bad("public.cors_origins", "expected a list of origins")
        origins = []
    return PublicConfig(
        listen,
        str(base_url).rstrip("/"),
        tuple(origins),
        status_cache_size=r.int("public.status_cache_size", s.get("status_cache_size", 100_000), 0),
        status_cache_warm=s.get("status_cache_warm", False) is True,
        **_connection_limits(r, "public", s, idle=15.0, per_client=64),
    )


def _confirmations(r: _Reader, where: str, value: Any) -> Confirmations:
    if value == "finalized":
        return "finalized"
    return r.int(where, value, 1)


def _chain(r: _Reader, s: dict[str, Any]) -> ChainConfig:
    urls = s.get("rpc_urls", ["http://127.0.0.1:8545"])
    if (
        not isinstance(urls, list)
        or not urls
        or not all(isinstance(u, str) and re.match(r"^(https?|wss?)://", u) for u in urls)
    ):
        r.bad("chain.rpc_urls", "expected a non-empty list of http(s):// or ws(s):// URLs")
        urls = []
    start = s.get("start_block", "latest")
    if start != "latest":
        start = r.int("chain.start_block", start, 0)
    return ChainConfig(
        rpc_urls=tuple(urls),
        chain_id=r.int("chain.chain_id", s.get("chain_id", 31337), 1),
        confirmations=_confirmations(r, "chain.confirmations", s.get("confirmations", 3)),
        poll_interval=r.number("chain.poll_interval", s.get("poll_interval", 2), 0.05),
        start_block=start,
        max_block_range=r.int("chain.max_block_range", s.get("max_block_range", 2000), 1),
        reorg_window=r.int("chain.reorg_window", s.get("reorg_window", 128), 4),
        reconcile_interval=r.number(
            "chain.reconcile_interval", s.get("reconcile_interval", 30), 0.05
        ),
        request_timeout=r.number("chain.request_timeout", s.get("request_timeout", 10), 0.1),
    )


def _assets(r: _Reader, value: Any) -> dict[str, AssetConfig]:
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
        assets[name] = AssetConfig(
            name=name,
            decimals=decimals,
            contract=None if native else contract,
            native=native,
            max_amount=max_amount,
            confirmations=None
            if conf is None
            else _confirmations(r, f"{where}.confirmations", conf),
            symbol=str(spec.get("symbol", name.upper())),
        )
    return assets


def _wallet(r: _Reader, s: dict[str, Any]) -> WalletConfig:
    xpub = s.get("xpub")
    if not isinstance(xpub, str) or not xpub.startswith(("xpub", "tpub")):
        r.bad("wallet.xpub", "expected a BIP44 account-level extended public key (xpub...)")
        xpub = ""
    else:
        from xbtcpay.chain.wallet import InvalidXpub, parse_xpub

        try:
            parse_xpub(xpub)
        except InvalidXpub as exc:
            r.bad("wallet.xpub", str(exc))
    return WalletConfig(
        xpub=xpub, first_index=r.int("wallet.first_index", s.get("first_index", 0), 0)
    )


def _payments(r: _Reader, s: dict[str, Any]) -> PaymentsConfig:
    return PaymentsConfig(
        expire_after=r.int("payments.expire_after", s.get("expire_after", 86400), 1),
        late_window=r.int("payments.late_window", s.get("late_window", 7 * 86400), 0),
        max_expire=r.int("payments.max_expire", s.get("max_expire", 30 * 86400), 1),
    )


def _postback(r: _Reader, s: dict[str, Any]) -> PostbackConfig | None:
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


def _log(r: _Reader, s: dict[str, Any]) -> LogConfig:
    level = str(s.get("level", "info")).lower()
    if level not in ("debug", "info", "warning", "error"):
        r.bad("log.level", "one of debug, info, warning, error")
        level = "info"
    fmt = s.get("format", "auto")
    if fmt not in ("auto", "json", "console"):
        r.bad("log.format", "one of auto, json, console")
        fmt = "auto"
    return LogConfig(level, fmt)
