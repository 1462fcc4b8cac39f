"""Every member of the plugin interface is documented in docs/plugins.md."""

from __future__ import annotations

from pathlib import Path

from xbtcpay.plugin_api import Plugin, PluginContext

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()


def _members(protocol: type) -> set[str]:
    return {n for n in vars(protocol) if not n.startswith("_")} | set(
        getattr(protocol, "__annotations__", {})
    )


def test_plugin_context_members_are_documented() -> None:
    missing = {m for m in _members(PluginContext) if f"`{m}" not in DOC}
    assert not missing, f"undocumented PluginContext members: {missing}"


def test_plugin_members_are_documented() -> None:
    missing = {m for m in _members(Plugin) if f"`{m}" not in DOC and f"`async {m}" not in DOC}
    assert not missing, f"undocumented Plugin members: {missing}"
