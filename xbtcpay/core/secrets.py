"""Secrets from a literal, ``{env: NAME}`` or ``{file: PATH}``; never printed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Secret:
    """A secret value whose repr and str never show it."""

    _value: str = field(repr=False)
    source: str = "literal"

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return f"<secret from {self.source}>"

    __repr__ = __str__


def resolve_secret(spec: object, base_dir: Path, where: str, problems: list[str]) -> Secret | None:
    """Resolve a secret spec; append a one-line problem and return None when it cannot."""
    if isinstance(spec, str) and spec:
        return Secret(spec, "literal")
    if isinstance(spec, dict) and len(spec) == 1:
        ((kind, ref),) = spec.items()
        if kind == "env" and isinstance(ref, str):
            value = os.environ.get(ref)
            if not value:
                problems.append(f"{where}: environment variable {ref} is not set or empty")
                return None
            return Secret(value, f"env {ref}")
        if kind == "file" and isinstance(ref, str):
            path = (base_dir / ref).resolve()
            try:
                value = path.read_text().strip()
            except OSError as exc:
                problems.append(f"{where}: cannot read secret file {path}: {exc.strerror}")
                return None
            if not value:
                problems.append(f"{where}: secret file {path} is empty")
                return None
            return Secret(value, f"file {path}")
    problems.append(f"{where}: expected a non-empty string, {{env: NAME}} or {{file: PATH}}")
    return None
