"""The shipped sweep artifacts are what contracts/*.sol compile to (the offline signer derives
the delegate's address from the shipped bytecode, so a stale artifact would refuse every plan)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import REPO

SHIPPED = REPO / "xbtcpay" / "chain" / "artifacts"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """contracts/build.js (npm solc) run into a fresh directory."""
    node = shutil.which("node")
    assert node is not None, "node is required (make install)"
    out = tmp_path_factory.mktemp("artifacts")
    subprocess.run(
        [node, str(REPO / "contracts" / "build.js")],
        check=True,
        cwd=REPO,
        env={**os.environ, "ARTIFACTS_DIR": str(out)},
        capture_output=True,
    )
    return out


@pytest.mark.parametrize("name", ["SweepDelegate", "SweepBatch"])
def test_shipped_sweep_artifacts_match_the_sources(built: Path, name: str) -> None:
    fresh = json.loads((built / f"{name}.json").read_text())
    assert fresh == json.loads((SHIPPED / f"{name}.json").read_text())
