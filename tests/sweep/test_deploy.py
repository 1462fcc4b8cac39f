"""``sweep deploy`` prints the exact config lines; pasted under ``sweep:``, ``sweep plan`` works."""

from __future__ import annotations

from pathlib import Path

from tests.chain.watching import chain_overrides
from tests.fixtures.chain import DevChain
from tests.harness import base_config, write_config
from tests.sweep.kit import TREASURY, cli, load, server_sweep
from xbtcpay.sweep.contracts import delegate_address


async def test_the_lines_deploy_prints_pasted_under_sweep_make_plan_work(
    tmp_path: Path, chain: DevChain
) -> None:
    config = write_config(
        tmp_path, base_config(tmp_path, chain_overrides(chain, 0, server_sweep(tmp_path)))
    )
    before = await cli(config, "sweep", "plan", "-o", str(tmp_path / "plan.json"))
    assert before.code == 1
    assert "run `xbtcpay sweep deploy` and add the lines it prints under `sweep:`" in before.line()

    deployed = await cli(config, "sweep", "deploy")
    assert deployed.code == 0, deployed
    lines = deployed.out.splitlines()
    assert lines[0].endswith(f"for treasury {TREASURY}")
    assert f"under `sweep:` in {config}" in lines[1]
    pasted = [line for line in lines if line.startswith("  ")]
    assert (
        len(pasted) == 2
        and pasted[0].startswith("  batch: ")
        and pasted[1].startswith("  delegate: ")
    )
    batch = pasted[0].split('"')[1]
    assert pasted[1] == f'  delegate: "{delegate_address(batch, TREASURY)}"'

    text = config.read_text().splitlines()  # the operator pastes them under `sweep:`
    at = text.index("sweep:") + 1
    config.write_text("\n".join([*text[:at], *pasted, *text[at:]]) + "\n")
    after = await cli(config, "sweep", "plan", "-o", str(tmp_path / "plan.json"))
    assert after.code == 0, after
    plan = load(tmp_path / "plan.json")
    assert (plan["batch"], plan["treasury"]) == (batch, TREASURY)
    assert plan["delegate"] == delegate_address(batch, TREASURY)
