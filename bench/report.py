"""Results: a section per benchmark with rows, ratios and targets, printed as Markdown."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """One target of a benchmark: ``value`` compared with ``limit`` (``>=`` or ``<=``)."""

    name: str
    value: float | None
    op: str
    limit: float
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True/False, or None when the value could not be measured."""
        if self.value is None:
            return None
        return self.value >= self.limit if self.op == ">=" else self.value <= self.limit

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        shown = "-" if self.value is None else _num(self.value)
        note = f" ({self.note})" if self.note else ""
        return f"{self.name}: {shown} (target {self.op} {_num(self.limit)}) -> {verdict}{note}"


@dataclass
class Section:
    """The outcome of one benchmark."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["targets"] = [{**asdict(t), "met": t.met} for t in self.targets]
        return out

    def markdown(self, machine_line: str) -> str:
        """The section as Markdown: title, machine, table, ratios, targets, notes."""
        lines = [f"### {self.title}", "", f"Machine: {machine_line}", ""]
        if self.pending:
            lines += [f"PENDING: {self.pending}", ""]
        if self.rows:
            lines.append("| " + " | ".join(self.columns) + " |")
            lines.append("|" + "|".join(" --- " for _ in self.columns) + "|")
            for row in self.rows:
                lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
            lines.append("")
        for name, value in self.ratios.items():
            lines.append(f"- ratio {name}: {value:.2f}x")
        for target in self.targets:
            lines.append(f"- target {target.line()}")
        for note in self.notes:
            lines.append(f"- {note}")
        return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
