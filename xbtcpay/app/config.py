"""Configuration: parsed once from YAML into frozen dataclasses.

Every problem is collected and reported as one line (``ConfigError.problems``), so
``xbtcpay check-config`` and a refused start-up print the same explanation.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from xbtcpay.chain.settings import ChainConfig, chain_key, parse_chains, parse_wallet
from xbtcpay.cluster.settings import ClusterConfig, parse_cluster
from xbtcpay.commerce.media_access.products import product_problems
from xbtcpay.commerce.media_access.settings import MediaAccessSettings, parse_media_access
from xbtcpay.commerce.settings import CommerceConfig, parse_commerce
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import ConfigError
from xbtcpay.core.secrets import Secret, resolve_secret
from xbtcpay.core.settings import (
    AssetConfig,
    Confirmations,
    PaymentsConfig,
    PostbackConfig,
    PricingConfig,
    Reader,
    WalletConfig,
    parse_assets,
    parse_payments,
    parse_postback,
    parse_pricing,
)
from xbtcpay.rates.settings import RatesConfig, parse_rates
from xbtcpay.refunds.settings import PayoutsConfig, RefundsConfig, parse_payouts, parse_refunds
from xbtcpay.sweep.settings import SweepConfig, parse_sweep
from xbtcpay.web.admin.settings import AdminConfig, parse_admin
from xbtcpay.web.settings import PublicConfig, RpcConfig, parse_public, parse_rpc

DEFAULT_CONFIG = "config.yaml"
COMMERCE_SECTIONS = ("sessions", "currencies", "companies", "taxes")


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True)
class Config:
    """The whole configuration, assembled from the sections each layer owns.

    Lower layers never import it: each reads its own sections, or a small ``Protocol``
    of its own layer (``PaymentTerms``, ``WatcherSettings``, ``WebSettings``, ...) that
    this class satisfies structurally.
    """

    path: Path
    database: str
    rpc: RpcConfig
    public: PublicConfig
    chain: ChainConfig  # the chain of the default asset (the only one with ``chain:``)
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
    media_access: MediaAccessSettings = field(default_factory=MediaAccessSettings)
    rates: RatesConfig | None = None
    pricing: PricingConfig = field(default_factory=PricingConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    chains: dict[str, ChainConfig] = field(default_factory=dict)  # every chain, by key
    refunds: RefundsConfig = field(default_factory=RefundsConfig)
    payouts: PayoutsConfig | None = None

    def __post_init__(self) -> None:
        if not self.chains:
            object.__setattr__(self, "chains", {self.chain.key: self.chain})

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def chain_of(self, asset: str) -> ChainConfig | None:
        """The chain a crypto asset is paid on (None for a name that is no asset)."""
        spec = self.assets.get(asset)
        return None if spec is None else self.chains[chain_key(spec, self.chains)]

    def confirmations_for(self, asset: str) -> Confirmations:
        own = self.assets[asset].confirmations
        if own is not None:
            return own
        chain = self.chain_of(asset)
        return (chain or self.chain).confirmations


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
    r = Reader(path.parent)
    database = _database(r, raw.get("database", "sqlite:///var/xbtcpay.db"))
    rpc = parse_rpc(r, r.section(raw, "rpc"))
    public = parse_public(r, r.section(raw, "public"))
    assets = parse_assets(r, raw.get("assets"))
    chains = parse_chains(r, raw, assets)
    default_asset = raw.get("default_asset", next(iter(assets), ""))
    if assets and default_asset not in assets:
        r.bad("default_asset", f"{default_asset!r} is not one of assets: {', '.join(assets)}")
    wallet = parse_wallet(r, r.section(raw, "wallet"))
    payments = parse_payments(r, r.section(raw, "payments"))
    postback = parse_postback(r, r.section(raw, "postback"))
    log = _log(r, r.section(raw, "log"))
    plugins = _plain_mapping(r, raw, "plugins")
    products = _plain_mapping(r, raw, "products")
    r.problems.extend(Catalog.problems(products))
    sweep = parse_sweep(raw.get("sweep"), r.base_dir, r.problems)
    rates = parse_rates(r, raw.get("rates"), assets, tuple(chains))
    pricing = parse_pricing(r, r.section(raw, "pricing"))
    refunds = parse_refunds(r, raw.get("refunds"))
    payouts = parse_payouts(r, raw.get("payouts"), r.base_dir, assets)
    password, pool_size, cluster = _database_extras(r, raw, database)
    media_access, media_problems = parse_media_access(raw.get("commerce"), products)
    r.problems.extend(media_problems + product_problems(products, media_access.item_groups))
    known = {
        "database",
        "rpc",
        "public",
        "chain",
        "chains",
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
        "rates",
        "pricing",
        "admin",
        "refunds",
        "payouts",
    }
    known.update(COMMERCE_SECTIONS)
    commerce = parse_commerce(raw, path.parent, r.problems)
    admin = parse_admin(r, r.section(raw, "admin"))
    r.known("", raw, known)
    if r.problems:
        raise ConfigError(r.problems)
    for name in sweep.chains if sweep is not None else ():
        if name not in chains:
            r.bad(f"sweep.chains.{name}", f"not one of chains: {', '.join(chains)}")
    if r.problems:
        raise ConfigError(r.problems)
    assert rpc and public and chains and wallet and postback is not None
    spec = assets.get(str(default_asset))
    chain = chains[chain_key(spec, chains)] if spec is not None else next(iter(chains.values()))
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
        media_access=media_access,
        rates=rates,
        pricing=pricing,
        admin=admin,
        chains=chains,
        refunds=refunds,
        payouts=payouts,
    )


def _plain_mapping(r: Reader, raw: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    value = r.section(raw, name)
    out: dict[str, dict[str, Any]] = {}
    for key, item in value.items():
        if item is None:
            item = {}
        if not isinstance(item, dict):
            r.bad(f"{name}.{key}", "expected a mapping")
            continue
        out[str(key)] = item
    return out


def _database(r: Reader, value: Any) -> str:
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
    r: Reader, raw: dict[str, Any], database: str
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
    cluster = parse_cluster(r, r.section(raw, "cluster"))
    return password, pool_size, cluster


def _log(r: Reader, s: dict[str, Any]) -> LogConfig:
    r.known("log", s, ("level", "format"))
    level = str(s.get("level", "info")).lower()
    if level not in ("debug", "info", "warning", "error"):
        r.bad("log.level", "one of debug, info, warning, error")
        level = "info"
    fmt = s.get("format", "auto")
    if fmt not in ("auto", "json", "console"):
        r.bad("log.format", "one of auto, json, console")
        fmt = "auto"
    return LogConfig(level, fmt)
