"""Config validation: one clear line per problem; check-config prints the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO, base_config, write_config
from xbtcpay.app.config import load_config
from xbtcpay.core.errors import ConfigError


def _problems(tmp_path: Path, **changes: object) -> list[str]:
    raw = base_config(tmp_path)
    raw.update(changes)
    try:
        load_config(write_config(tmp_path, raw))
    except ConfigError as exc:
        return exc.problems
    return []


def test_repo_default_config_is_valid() -> None:
    config = load_config(REPO / "config.yaml")
    assert config.rpc.listen.port == 8889 and config.public.listen.port == 8888
    assert config.database == f"sqlite:///{REPO}/var/xbtcpay.db"
    assert config.chain.confirmations == 3 and config.default_asset == "0xbtc"


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        rpc={"listen": "nowhere", "ip_whitelist": ["bad"]},
        chain={"rpc_urls": [], "confirmations": 0},
        wallet={"xpub": "xpubnonsense"},
        postback={},
        surprise=1,
    )
    text = "\n".join(problems)
    for key in (
        "rpc.listen",
        "rpc.ip_whitelist",
        "chain.rpc_urls",
        "chain.confirmations",
        "wallet.xpub",
        "postback.secret",
        "surprise",
    ):
        assert key in text, key
    assert len(problems) >= 7


MISSPELLED_KEYS = [
    ({"postbak": {}}, "postbak"),
    ({"rpc": {"ip_whitelst": ["10.0.0.0/8"]}}, "rpc.ip_whitelst"),
    ({"rpc": {"forwarded_headr": "Forwarded"}}, "rpc.forwarded_headr"),
    ({"public": {"base_ulr": "https://pay.example"}}, "public.base_ulr"),
    ({"chain": {"poll_intervall": 1}}, "chain.poll_intervall"),
    ({"wallet": {"frist_index": 3}}, "wallet.frist_index"),
    ({"payments": {"expire_afer": 60}}, "payments.expire_afer"),
    ({"postback": {"alow_private": False}}, "postback.alow_private"),
    ({"log": {"levle": "debug"}}, "log.levle"),
    ({"assets": {"0xbtc": {"max_amont": "1"}}}, "assets.0xbtc.max_amont"),
    ({"sessions": {"secret": "s" * 32, "leway": 10}}, "sessions.leway"),
    ({"currencies": {"gems": {"decimals": 0, "decimls": 2}}}, "currencies.gems.decimls"),
    (
        {"companies": {"default": {"name": "Shop", "recipt_prefix": "X-"}}},
        "companies.default.recipt_prefix",
    ),
    ({"taxes": {"AU": {"rate": "0.10", "inclusiv": False}}}, "taxes.AU.inclusiv"),
    ({"commerce": {"prepare_tl": 60}}, "commerce.prepare_tl"),
    ({"cluster": {"lease_tl": 5}}, "cluster.lease_tl"),
]


@pytest.mark.parametrize(("overrides", "where"), MISSPELLED_KEYS)
def test_a_misspelled_key_at_any_depth_is_refused_by_its_dotted_path(
    tmp_path: Path, overrides: dict[str, object], where: str
) -> None:
    """Without this a typo is ignored and the default (a whitelist, a secret...) used."""
    try:
        load_config(write_config(tmp_path, base_config(tmp_path, overrides)))
    except ConfigError as exc:
        assert exc.problems == [f"{where}: unknown key (typo?)"]
    else:
        pytest.fail(f"{where} was accepted")


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PB_SECRET", "from-env")
    raw = base_config(tmp_path, {"postback": {"secret": {"env": "PB_SECRET"}}})
    assert load_config(write_config(tmp_path, raw)).postback.secret.reveal() == "from-env"
    (tmp_path / "pb.secret").write_text("from-file\n")
    raw = base_config(tmp_path, {"postback": {"secret": {"file": "pb.secret"}}})
    config = load_config(write_config(tmp_path, raw))
    assert config.postback.secret.reveal() == "from-file"
    assert "from-file" not in repr(config)
    assert _problems(tmp_path, postback={"secret": {"env": "MISSING_VAR_X"}}) == [
        "postback.secret: environment variable MISSING_VAR_X is not set or empty"
    ]


def test_check_config_prints_the_same_lines(tmp_path: Path) -> None:
    raw = base_config(tmp_path)
    raw["chain"]["poll_interval"] = "fast"
    path = write_config(tmp_path, raw)
    result = subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(path), "check-config"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert "config error: chain.poll_interval: expected a number" in result.stderr
    ok = write_config(tmp_path, base_config(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "xbtcpay", "check-config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"XBTCPAY_CONFIG": str(ok), "PATH": ""},
    )
    assert result.returncode == 0 and str(ok) in result.stdout


def test_yaml_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("rpc: [unclosed")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    # the parser's position (the end of "rpc: [unclosed"), never the text there: it may be a
    # secret (docs/RELIABILITY.md, security finding 9)
    assert problem == f"{path}: not valid YAML at line 1, column 15"


def test_product_catalog_is_validated(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        products={
            "cake": {"type": "one_time", "prices": {"USD": 10.5}},
            "gift": {"type": "voucher"},
            "topup": {"type": "top_up", "currency": "USD", "min": "x", "max": "10"},
            "ok": {"type": "one_time", "prices": {"USD": "10.50", "BRL": "8.50"}},
        },
    )
    assert 'products.cake.prices.USD: expected a decimal string like "9.99"' in problems
    assert "products.gift.type: one of one_time, subscription, top_up, ownage, ppv" in problems
    assert "products.topup.min: expected a positive decimal string" in problems
    assert not any(p.startswith("products.ok") for p in problems)


def test_intervals_take_decimals_lifetimes_whole_seconds(tmp_path: Path) -> None:
    raw = base_config(tmp_path)
    raw.setdefault("chain", {}).update(
        poll_interval=0.5, reconcile_interval=2.5, request_timeout=1.5
    )
    raw.setdefault("postback", {}).update(timeout=0.5, base_delay=0.25, max_delay=1.5)
    config = load_config(write_config(tmp_path, raw))
    assert (
        config.chain.poll_interval,
        config.chain.reconcile_interval,
        config.chain.request_timeout,
    ) == (0.5, 2.5, 1.5)
    assert (config.postback.timeout, config.postback.base_delay, config.postback.max_delay) == (
        0.5,
        0.25,
        1.5,
    )
    problems = _problems(tmp_path, payments={"expire_after": 0.5, "late_window": 1.5})
    assert problems == [
        "payments.expire_after: expected an integer >= 1, got 0.5",
        "payments.late_window: expected an integer >= 0, got 1.5",
    ]


def test_the_forwarded_header_is_one_of_the_two_a_proxy_writes(tmp_path: Path) -> None:
    raw = base_config(tmp_path, {"rpc": {"forwarded_header": "forwarded"}})
    assert load_config(write_config(tmp_path, raw)).rpc.forwarded_header == "Forwarded"
    raw = base_config(tmp_path)
    assert load_config(write_config(tmp_path, raw)).rpc.forwarded_header == "X-Forwarded-For"
    raw = base_config(tmp_path, {"rpc": {"forwarded_header": "X-Real-IP"}})
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, raw))
    assert info.value.problems == [
        "rpc.forwarded_header: expected X-Forwarded-For or Forwarded, got 'X-Real-IP'"
    ]
