"""The layer rules hold on the real tree, and each rule fires on a tree that breaks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture.layers import check, check_plugin, layer_of, read_tree

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_keeps_every_rule() -> None:
    sources, packages = read_tree(ROOT, "xbtcpay")
    assert len(sources) > 120  # the whole package was read
    problems = check(sources, packages)
    assert problems == [], "\n".join(str(p) for p in problems)


def test_bundled_plugins_import_only_the_plugin_sdk() -> None:
    problems = []
    read = 0
    for plugin in sorted((ROOT / "plugins").glob("xbtcpay_*")):
        sources, _ = read_tree(plugin, plugin.name)
        read += len(sources)
        for module, text in sources.items():
            problems += check_plugin(module, text)
    assert read > 40
    assert problems == [], "\n".join(str(p) for p in problems)


def test_layer_ranks() -> None:
    assert [
        layer_of(m)
        for m in (
            "xbtcpay.core.state",
            "xbtcpay.plugin_api",
            "xbtcpay.storage.payments",
            "xbtcpay.chain.watcher",
            "xbtcpay.commerce.purchases.ledger",
            "xbtcpay.cluster.leadership",
            "xbtcpay.web.rpc",
            "xbtcpay.app.daemon",
            "xbtcpay.__main__",
            "xbtcpay",
            "aiohttp.web",
        )
    ] == [0, 0, 1, 2, 2, 2, 3, 4, 4, 0, None]


# A small tree that keeps every rule; each case below breaks exactly one.
CLEAN = {
    "xbtcpay": "",
    "xbtcpay.core": "",
    "xbtcpay.core.state": "OPEN = ('new',)\n",
    "xbtcpay.core.models": "from xbtcpay.core.state import OPEN\n",
    "xbtcpay.storage": "",
    "xbtcpay.storage.payments": (
        "from xbtcpay.core.models import OPEN\n"
        "SQL = 'SELECT * FROM payments'\n"
        "def f(uow):\n    return uow.dialect\n"
    ),
    "xbtcpay.chain": "",
    "xbtcpay.chain.watcher": "from xbtcpay.storage.payments import SQL\n",
    "xbtcpay.web": "",
    "xbtcpay.web.rpc": "from xbtcpay.chain import watcher\n",
    "xbtcpay.app": "",
    "xbtcpay.app.daemon": "from xbtcpay.web.rpc import watcher\nfrom xbtcpay.app import cli\n",
    "xbtcpay.app.cli": "import xbtcpay.core.state\n",
    # leaves that import nothing, so importing one upward makes no circle
    "xbtcpay.storage.leaf": "",
    "xbtcpay.chain.leaf": "",
    "xbtcpay.web.leaf": "",
    "xbtcpay.app.leaf": "",
}
PACKAGES = {
    "xbtcpay",
    "xbtcpay.core",
    "xbtcpay.storage",
    "xbtcpay.chain",
    "xbtcpay.web",
    "xbtcpay.app",
}


def test_the_small_tree_is_clean() -> None:
    assert check(CLEAN, PACKAGES) == []


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("xbtcpay.core.models", "from xbtcpay.storage.leaf import X\n", "upward import"),
        ("xbtcpay.storage.payments", "import xbtcpay.chain.leaf\n", "upward import"),
        ("xbtcpay.chain.watcher", "def f():\n    from xbtcpay.web import leaf\n", "upward import"),
        ("xbtcpay.web.rpc", "from xbtcpay.app.leaf import X\n", "upward import"),
        (
            "xbtcpay.core.state",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from xbtcpay.core.models import OPEN\n",
            "import circle",
        ),
        (
            "xbtcpay.chain.watcher",
            "from xbtcpay.storage.payments import _hidden\n",
            "private import",
        ),
        ("xbtcpay.web.rpc", "def f(db):\n    return db.dialect == 'sqlite'\n", "dialect branch"),
        ("xbtcpay.chain.watcher", "Q = 'UPDATE payments SET status = ?'\n", "payments SQL"),
        ("xbtcpay.web.rpc", "Q = '''SELECT 1\n  FROM payment_events'''\n", "payments SQL"),
    ],
)
def test_each_rule_fires(module: str, source: str, rule: str) -> None:
    broken = {**CLEAN, module: CLEAN[module] + source}
    found = check(broken, PACKAGES)
    assert [v.rule for v in found] == [rule], found


def test_a_private_name_of_the_own_package_is_allowed() -> None:
    tree = {**CLEAN, "xbtcpay.storage.sql": "from xbtcpay.storage.payments import _x\n"}
    assert check(tree, PACKAGES) == []


def test_plugin_rule() -> None:
    assert check_plugin("p.m", "from xbtcpay.plugin_api import Plugin\nimport aiohttp\n") == []
    assert check_plugin("p.m", "from xbtcpay import plugin_api\n") == []
    found = check_plugin("p.m", "from xbtcpay.core.errors import PluginError\n")
    assert [v.rule for v in found] == ["plugin import"]
    found = check_plugin("p.m", "import xbtcpay.core.models\n")
    assert [v.rule for v in found] == ["plugin import"]
