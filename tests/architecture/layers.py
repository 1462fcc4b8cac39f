"""The rules of the house, read from source: which module may import which.

Layers, lowest first (a module may import its own layer and the layers below it):

    core      xbtcpay.core, xbtcpay.plugin_api (the plugin SDK), xbtcpay (the package)
    storage   xbtcpay.storage
    services  xbtcpay.chain, xbtcpay.commerce, xbtcpay.sweep, xbtcpay.cluster, xbtcpay.rates,
              xbtcpay.books
    web       xbtcpay.web
    root      xbtcpay.app, xbtcpay.__main__

Besides the direction: no import circle (an import under ``TYPE_CHECKING`` or inside a
function is still an arrow), no private name (``_x``) imported from another package, no SQL
dialect branch (``.dialect``) and no SQL on ``payments``/``payment_events`` outside storage,
and a bundled plugin imports nothing of xbtcpay but the plugin SDK.

``check(sources)`` takes ``{module name: source text}`` so the tests can feed it a broken
tree and watch each rule fire.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("xbtcpay.core", "xbtcpay.plugin_api", "xbtcpay")),
    ("storage", ("xbtcpay.storage",)),
    (
        "services",
        (
            "xbtcpay.chain",
            "xbtcpay.commerce",
            "xbtcpay.sweep",
            "xbtcpay.cluster",
            "xbtcpay.rates",
            "xbtcpay.books",
            "xbtcpay.refunds",
        ),
    ),
    ("web", ("xbtcpay.web",)),
    ("root", ("xbtcpay.app", "xbtcpay.__main__")),
)
SDK = ("xbtcpay.plugin_api",)
PAYMENT_SQL = re.compile(
    r"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+(payments|payment_events)\b", re.IGNORECASE
)


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    module: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.module}: {self.detail}"


def layer_of(module: str) -> int | None:
    """The rank of a module's layer (0 = core), or None for modules outside xbtcpay."""
    best: tuple[int, int] | None = None  # (prefix length, rank): the longest prefix decides
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    target: str  # the module imported (resolved to a known module where possible)
    names: tuple[str, ...]  # names taken with "from X import a, b"
    line: int


def imports_of(module: str, tree: ast.AST, is_package: bool, known: Iterable[str]) -> list[Import]:
    """Every import in a module, wherever it stands (top level, TYPE_CHECKING, functions)."""
    known = set(known)
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(a.name, (), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_of(module, is_package).split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            plain: list[str] = []
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in known:  # "from pkg import module"
                    out.append(Import(sub, (), node.lineno))
                else:
                    plain.append(alias.name)
            if plain:
                out.append(Import(source, tuple(plain), node.lineno))
    return out


def _resolve(target: str, known: set[str]) -> str | None:
    while target and target not in known:
        if "." not in target:
            return None
        target = target.rpartition(".")[0]
    return target or None


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _dialect_branches(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "dialect"
    ]


def _payment_sql(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and PAYMENT_SQL.search(node.value)
    ]


def check(sources: Mapping[str, str], packages: Iterable[str] = ()) -> list[Violation]:
    """Every broken rule in a tree of xbtcpay modules (``packages``: modules that are
    ``__init__`` files)."""
    packages = set(packages)
    known = set(sources)
    trees = {m: ast.parse(text) for m, text in sources.items()}
    found: list[Violation] = []
    edges: dict[str, set[str]] = {m: set() for m in sources}
    for module, tree in trees.items():
        rank = layer_of(module)
        is_package = module in packages
        for imp in imports_of(module, tree, is_package, known):
            target = _resolve(imp.target, known)
            if target is None or target == module:
                continue
            edges[module].add(target)
            target_rank = layer_of(target)
            if rank is not None and target_rank is not None and target_rank > rank:
                found.append(
                    Violation(
                        "upward import",
                        module,
                        f"line {imp.line}: {LAYERS[rank][0]} imports {LAYERS[target_rank][0]}"
                        f" ({target})",
                    )
                )
            own = package_of(module, is_package)
            for name in imp.names:
                private = name.startswith("_") and not name.startswith("__")
                if private and package_of(target, target in packages) != own:
                    found.append(
                        Violation(
                            "private import", module, f"line {imp.line}: {name} from {target}"
                        )
                    )
        if rank is not None and LAYERS[rank][0] != "storage":
            for line in _dialect_branches(tree):
                found.append(Violation("dialect branch", module, f"line {line}"))
            for line in _payment_sql(tree):
                found.append(Violation("payments SQL", module, f"line {line}"))
    for component in _cycles(edges):
        found.append(Violation("import circle", component[0], " -> ".join(component)))
    return sorted(found)


def check_plugin(module: str, source: str) -> list[Violation]:
    """A bundled plugin's module: of xbtcpay, only the plugin SDK."""
    tree = ast.parse(source)
    found = []
    for imp in imports_of(module, tree, False, ()):
        targets = [imp.target] + [f"{imp.target}.{n}" for n in imp.names]
        ours = imp.target == "xbtcpay" or imp.target.startswith("xbtcpay.")
        sdk = any(t == s or t.startswith(s + ".") for t in targets for s in SDK)
        if ours and not sdk:
            found.append(Violation("plugin import", module, f"line {imp.line}: {imp.target}"))
    return found


def read_tree(root: Path, package: str) -> tuple[dict[str, str], set[str]]:
    """``{module: source}`` and the set of package modules under ``root/package``."""
    sources: dict[str, str] = {}
    packages: set[str] = set()
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
            packages.add(".".join(parts))
        sources[".".join(parts)] = path.read_text(encoding="utf-8")
    return sources, packages
