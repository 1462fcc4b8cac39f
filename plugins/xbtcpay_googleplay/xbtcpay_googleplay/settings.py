"""The ``plugins.googleplay`` section of config.yaml, checked once at start-up."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbtcpay.plugin_api import PluginContext, PluginError, unknown_keys

API_BASE_URL = "https://androidpublisher.googleapis.com/"
CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+\Z")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\Z")
SERVICE_ACCOUNT_KEYS = ("type", "client_email", "private_key", "token_uri")
KNOWN_KEYS = (
    "package_name",
    "service_account_file",
    "api_base_url",
    "push_audience",
    "push_service_account",
    "push_certs_url",
    "allow_test_purchases",
    "postback_url",
    "timeout",
    "voided_poll_interval",
    "voided_lookback_days",
)


@dataclass(frozen=True)
class GooglePlaySettings:
    """Validated settings. ``service_account`` is the parsed key file: never logged."""

    package_name: str
    service_account: dict[str, Any]
    api_base_url: str
    push_audience: str
    push_service_account: str
    push_certs_url: str
    allow_test_purchases: bool
    postback_url: str | None
    timeout: float
    voided_poll_interval: float  # seconds; 0 turns the poll off
    voided_lookback_days: int

    def __repr__(self) -> str:
        return f"GooglePlaySettings(package_name={self.package_name!r}, ...)"


def load_settings(ctx: PluginContext) -> GooglePlaySettings:
    """Parse ``ctx.settings``; PluginError lists every problem at once."""
    s, where = ctx.settings, f"plugins.{ctx.name}"
    problems = unknown_keys(where, s, KNOWN_KEYS)
    package = s.get("package_name")
    if not isinstance(package, str) or not _PACKAGE.match(package):
        problems.append(f"{where}.package_name: required, e.g. com.example.app")
    account = _service_account(
        s.get("service_account_file"), f"{where}.service_account_file", problems
    )
    urls = {
        key: s.get(key, default)
        for key, default in (
            ("api_base_url", API_BASE_URL),
            ("push_certs_url", CERTS_URL),
            ("push_audience", None),
            ("postback_url", None),
        )
    }
    for key, url in urls.items():
        if url is None and key in ("postback_url",):
            continue
        if not _is_http_url(url):
            problems.append(f"{where}.{key}: an http(s) URL")
    push_account = s.get("push_service_account")
    if not isinstance(push_account, str) or not _EMAIL.match(push_account):
        problems.append(
            f"{where}.push_service_account: the e-mail of the service account "
            "that signs Pub/Sub pushes"
        )
    timeout = _positive(s.get("timeout", 15), f"{where}.timeout", problems, 15)
    interval = _positive(
        s.get("voided_poll_interval", 3600),
        f"{where}.voided_poll_interval",
        problems,
        3600,
        zero_ok=True,
    )
    lookback = s.get("voided_lookback_days", 30)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or not 1 <= lookback <= 30:
        problems.append(f"{where}.voided_lookback_days: 1 to 30 (Google keeps 30 days)")
        lookback = 30
    allow_test = s.get("allow_test_purchases", False)
    if not isinstance(allow_test, bool):
        problems.append(f"{where}.allow_test_purchases: true or false")
    if problems:
        raise PluginError("; ".join(problems))
    assert isinstance(package, str) and isinstance(push_account, str)
    base = str(urls["api_base_url"])
    return GooglePlaySettings(
        package_name=package,
        service_account=account,
        api_base_url=base if base.endswith("/") else base + "/",
        push_audience=str(urls["push_audience"]),
        push_service_account=push_account,
        push_certs_url=str(urls["push_certs_url"]),
        allow_test_purchases=allow_test is True,
        postback_url=urls["postback_url"],
        timeout=timeout,
        voided_poll_interval=interval,
        voided_lookback_days=lookback,
    )


def _service_account(path: Any, where: str, problems: list[str]) -> dict[str, Any]:
    """The service-account key file (JSON, as the Google Cloud console downloads it)."""
    if not isinstance(path, str) or not path:
        problems.append(f"{where}: required, the path of the service-account JSON key")
        return {}
    try:
        info = json.loads(Path(path).read_text())
    except OSError as exc:
        problems.append(f"{where}: cannot read {path}: {exc.strerror}")
        return {}
    except ValueError:
        problems.append(f"{where}: {path} is not JSON")
        return {}
    if (
        not isinstance(info, dict)
        or info.get("type") != "service_account"
        or not all(isinstance(info.get(k), str) for k in SERVICE_ACCOUNT_KEYS)
    ):
        problems.append(
            f"{where}: {path} is not a service-account key "
            f"(needs {', '.join(SERVICE_ACCOUNT_KEYS)})"
        )
        return {}
    return info


def _positive(
    value: Any, where: str, problems: list[str], default: float, zero_ok: bool = False
) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        problems.append(f"{where}: seconds, > 0" + (" (0 turns it off)" if zero_ok else ""))
        return default
    return float(value)


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))
