"""The ``plugins.appstore`` section of config.yaml, checked once at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from xbtcpay.plugin_api import PluginContext, PluginError, unknown_keys

PRODUCTION_URL = "https://buy.itunes.apple.com/verifyReceipt"
SANDBOX_URL = "https://sandbox.itunes.apple.com/verifyReceipt"
ENVIRONMENTS = {"production": "Production", "sandbox": "Sandbox"}
TEST_ENVIRONMENTS = ("Xcode", "LocalTesting")
_BUNDLE = re.compile(r"^[A-Za-z0-9.\-]{1,155}\Z")
KNOWN_KEYS = (
    "bundle_id",
    "app_apple_id",
    "environment",
    "root_certificates",
    "accept_sandbox",
    "allow_test_environments",
    "products",
    "verify_receipt_url",
    "verify_receipt_sandbox_url",
    "shared_secret",
    "postback_url",
    "timeout",
)


@dataclass(frozen=True)
class AppStoreSettings:
    """Validated settings; ``environment`` uses Apple's spelling (Production, Sandbox)."""

    bundle_id: str
    app_apple_id: int | None
    environment: str
    root_certificates: tuple[bytes, ...]
    accept_sandbox: bool
    allow_test_environments: bool
    products: tuple[str, ...]
    verify_receipt_url: str
    verify_receipt_sandbox_url: str
    shared_secret: str | None
    postback_url: str | None
    timeout: float

    def accepted_environments(self) -> tuple[str, ...]:
        """Environments whose signed data this shop accepts."""
        envs = [self.environment]
        if self.environment == "Production" and self.accept_sandbox:
            envs.append("Sandbox")
        if self.allow_test_environments:
            envs.extend(TEST_ENVIRONMENTS)
        return tuple(envs)


def load_settings(ctx: PluginContext) -> AppStoreSettings:
    """Parse ``ctx.settings``; PluginError lists every problem at once."""
    s = ctx.settings
    where = f"plugins.{ctx.name}"
    problems: list[str] = unknown_keys(where, s, KNOWN_KEYS)
    bundle_id = s.get("bundle_id")
    if not isinstance(bundle_id, str) or not _BUNDLE.match(bundle_id):
        problems.append(f"{where}.bundle_id: required, e.g. com.example.app")
    env = ENVIRONMENTS.get(str(s.get("environment", "production")).lower())
    if env is None:
        problems.append(f"{where}.environment: production or sandbox")
    app_apple_id = s.get("app_apple_id")
    if app_apple_id is not None and (
        isinstance(app_apple_id, bool) or not str(app_apple_id).isdigit()
    ):
        problems.append(f"{where}.app_apple_id: the app's numeric Apple ID")
        app_apple_id = None
    if env == "Production" and app_apple_id is None:
        problems.append(f"{where}.app_apple_id: required in production")
    roots = _roots(s.get("root_certificates"), f"{where}.root_certificates", problems)
    # Optional: by default every catalog product carrying appstore_product_id is sold; the
    # list restricts the sale to some of them.
    products = s.get("products")
    if products is None:
        products = ctx.products_with("appstore_product_id")
    if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
        problems.append(f"{where}.products: a list of catalog product names")
        products = []
    for name in products:
        spec = ctx.product(name)
        if spec is None or not isinstance(spec.get("appstore_product_id"), str):
            problems.append(
                f"{where}.products: {name!r} needs a catalog entry with appstore_product_id"
            )
    timeout = s.get("timeout", 15)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        problems.append(f"{where}.timeout: seconds, > 0")
        timeout = 15
    postback_url = s.get("postback_url")
    if postback_url is not None and not _is_http_url(postback_url):
        problems.append(f"{where}.postback_url: an http(s) URL")
    urls = {
        key: s.get(key, default)
        for key, default in (
            ("verify_receipt_url", PRODUCTION_URL),
            ("verify_receipt_sandbox_url", SANDBOX_URL),
        )
    }
    for key, url in urls.items():
        if not _is_http_url(url):
            problems.append(f"{where}.{key}: an http(s) URL")
    shared_secret = ctx.secret("shared_secret", required=False)
    if problems:
        raise PluginError("; ".join(problems))
    assert isinstance(bundle_id, str) and env is not None
    return AppStoreSettings(
        bundle_id=bundle_id,
        app_apple_id=None if app_apple_id is None else int(app_apple_id),
        environment=env,
        root_certificates=roots,
        accept_sandbox=s.get("accept_sandbox") is True,
        allow_test_environments=s.get("allow_test_environments") is True,
        products=tuple(products),
        verify_receipt_url=str(urls["verify_receipt_url"]),
        verify_receipt_sandbox_url=str(urls["verify_receipt_sandbox_url"]),
        shared_secret=shared_secret,
        postback_url=postback_url,
        timeout=float(timeout),
    )


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _roots(value: Any, where: str, problems: list[str]) -> tuple[bytes, ...]:
    """DER bytes of each configured root certificate (files in DER or PEM)."""
    if not isinstance(value, list) or not value:
        problems.append(f"{where}: a list of certificate files (Apple Root CA - G3, DER or PEM)")
        return ()
    out = []
    for item in value:
        try:
            out.append(der_certificate(Path(str(item)).read_bytes()))
        except (OSError, ValueError) as exc:
            problems.append(f"{where}: {item}: {exc}")
    return tuple(out)


def der_certificate(raw: bytes) -> bytes:
    """The DER encoding of a certificate given in DER or PEM; ValueError otherwise."""
    if raw.lstrip().startswith(b"-----BEGIN"):
        cert = x509.load_pem_x509_certificate(raw)
    else:
        cert = x509.load_der_x509_certificate(raw)
    return cert.public_bytes(serialization.Encoding.DER)


def product_index(ctx: PluginContext, names: tuple[str, ...]) -> Mapping[str, str]:
    """Apple product id -> catalog product name, for the configured products."""
    index: dict[str, str] = {}
    for name in names:
        spec = ctx.product(name)
        if spec is not None:
            index[str(spec["appstore_product_id"])] = name
    return index
