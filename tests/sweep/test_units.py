"""Pure parts of the sweep: plan files, batching, settings, records on a real SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness import DEV_MNEMONIC, DEV_XPUB
from xbtcpay.storage.database import Database
from xbtcpay.sweep.batching import TX_GAS_CAP, gas_cap, pack
from xbtcpay.sweep.contracts import delegate_address
from xbtcpay.sweep.errors import SweepRefused
from xbtcpay.sweep.plan import Plan, PlanEntry, plan_from_json, plan_to_json
from xbtcpay.sweep.records import SweepStore
from xbtcpay.sweep.settings import parse_sweep
from xbtcpay.sweep.sign import check_plan, sign_plan

BATCH = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TREASURY = "0x7777777777777777777777777777777777777777"
INDEX_10 = "0xBcd4042DE499D14e55001CcbB24a551F3b954096"


def plan(**changes: Any) -> Plan:
    fields: dict[str, Any] = {
        "chain_id": 31337,
        "asset": "0xbtc",
        "token": BATCH,
        "decimals": 8,
        "treasury": TREASURY,
        "batch": BATCH,
        "delegate": delegate_address(BATCH, TREASURY),
        "xpub": DEV_XPUB,
        "entries": (PlanEntry(10, INDEX_10, ("p1",), 150_000_000, 0),),
    }
    fields.update(changes)
    return Plan(**fields)


def test_a_plan_file_round_trips_with_exact_amounts() -> None:
    data = plan_to_json(plan())
    assert data["total"] == "150000000" and data["total_amount"] == "1.5"
    assert plan_from_json(data) == plan()


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"addresses": [{"index": -1}]},
        {"chain_id": True},
        {"kind": "airdrop"},
        {"treasury": "0x1234"},
    ],
)
def test_a_malformed_plan_is_refused_with_a_reason(change: dict[str, Any]) -> None:
    data = {**plan_to_json(plan()), **change}
    with pytest.raises(SweepRefused):
        plan_from_json(data)


def test_a_plan_listing_an_address_twice_is_refused() -> None:
    data = plan_to_json(plan())
    data["addresses"] = data["addresses"] * 2
    with pytest.raises(SweepRefused, match="twice"):
        plan_from_json(data)


def test_the_signer_signs_an_authorization_that_recovers_to_the_deposit_address() -> None:
    from xbtcpay.sweep.verify import authority_of

    signed = sign_plan(plan(), DEV_MNEMONIC)
    (auth,) = signed.authorizations
    assert authority_of(auth) == INDEX_10 and auth.delegate == plan().delegate
    assert auth.nonce == 0 and auth.chain_id == 31337


def test_the_signer_refuses_a_bad_mnemonic_without_repeating_it() -> None:
    words = "abandon " * 11 + "zoo"
    with pytest.raises(SweepRefused) as caught:
        check_plan(plan(), words)
    assert "abandon" not in str(caught.value) and "not a valid BIP39" in str(caught.value)
    other = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    with pytest.raises(SweepRefused, match="xpub is not this mnemonic"):
        check_plan(plan(), other)


async def test_batches_are_as_few_as_the_cap_allows() -> None:
    async def estimate(chunk: Any) -> int:
        return 21_000 + 31_000 * len(chunk)

    assert [len(c) for c, _ in await pack(list(range(200)), estimate, 30_000_000)] == [200]
    sizes = [len(c) for c, _ in await pack(list(range(200)), estimate, 2_000_000)]
    assert sizes == [50, 50, 50, 50] and sum(sizes) == 200
    assert all(g <= 2_000_000 for _, g in await pack(list(range(200)), estimate, 2_000_000))
    assert gas_cap(60_000_000) == TX_GAS_CAP and gas_cap(2_000_000) == 2_000_000
    with pytest.raises(ValueError):
        await pack([1], estimate, 40_000)


def test_sweep_settings_report_every_problem(tmp_path: Path) -> None:
    problems: list[str] = []
    parse_sweep(
        {"treasury": "0x0", "gas_wallet_key": "nope", "batch": 5, "confirmations": 0, "tresury": 1},
        tmp_path,
        problems,
    )
    assert problems == [
        "sweep.tresury: unknown key (typo?)",
        "sweep.treasury: expected a 0x-prefixed 20-byte address, got '0x0'",
        "sweep.gas_wallet_key: expected a 32-byte hex private key",
        "sweep.confirmations: expected an integer >= 1, got 0",
        "sweep.batch: expected a 0x-prefixed 20-byte address, got 5",
    ]
    assert parse_sweep(None, tmp_path, problems) is None


def test_a_configured_delegate_must_be_the_batch_delegate_of_the_treasury(tmp_path: Path) -> None:
    problems: list[str] = []
    good = parse_sweep(
        {"treasury": TREASURY, "batch": BATCH, "delegate": delegate_address(BATCH, TREASURY)},
        tmp_path,
        problems,
    )
    assert problems == [] and good is not None and good.batch == BATCH
    parse_sweep({"treasury": TREASURY, "batch": BATCH, "delegate": INDEX_10}, tmp_path, problems)
    expected = delegate_address(BATCH, TREASURY)
    assert problems == [
        (
            f"sweep.delegate: {INDEX_10} is not the delegate of sweep.batch for "
            f"sweep.treasury (that is {expected})"
        )
    ]


def test_check_config_accepts_a_sweep_section_without_any_deposit_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    from tests.harness import REPO, base_config, write_config

    key = tmp_path / "gas.key"
    key.write_text("0x" + "11" * 32)
    raw = base_config(
        tmp_path,
        {"sweep": {"treasury": TREASURY, "batch": BATCH, "gas_wallet_key": {"file": str(key)}}},
    )
    path = write_config(tmp_path, raw)
    ok = subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(path), "check-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    raw["sweep"]["treasury"] = "nowhere"
    path.write_text(yaml.safe_dump(raw))
    bad = subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(path), "check-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "config error: sweep.treasury: expected a 0x-prefixed 20-byte address, got 'nowhere'"
    )


async def test_the_same_transaction_sent_again_keeps_one_record(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "x.db"))
    await db.open()
    try:
        await db.migrate()
        store = SweepStore(db)
        args: dict[str, Any] = {
            "tx_hash": "0xab",
            "chain_id": 31337,
            "asset": "0xbtc",
            "kind": "eip7702",
            "treasury": TREASURY,
            "sender": TREASURY,
            "nonce": 0,
            "gas_limit": 100_000,
            "raw_tx": "0x02",
            "entries": plan().entries,
        }
        first = await store.record_sent(**args)
        assert await store.record_sent(**args) == first
        rows = await db.fetchall("SELECT status FROM sweep_events WHERE sweep_id = ?", (first,))
        assert [r["status"] for r in rows] == ["sent", "sent"]
        assert len(await db.fetchall("SELECT * FROM sweep_items")) == 1
    finally:
        await db.close()


def test_the_signer_reads_the_mnemonic_from_stdin_and_never_prints_it(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.harness import REPO

    (tmp_path / "plan.json").write_text(json.dumps(plan_to_json(plan())))
    out = tmp_path / "signed.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "xbtcpay",
            "sweep",
            "sign",
            str(tmp_path / "plan.json"),
            "-o",
            str(out),
        ],
        input=DEV_MNEMONIC,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 addresses, 1.5 0xbtc to treasury" in done.stderr and "1 signatures" in done.stderr
    assert "test test" not in done.stdout + done.stderr + out.read_text()
    assert json.loads(out.read_text())["authorizations"][0]["authority"] == INDEX_10
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "xbtcpay",
            "sweep",
            "sign",
            str(tmp_path / "plan.json"),
            "-o",
            str(tmp_path / "x.json"),
        ],
        input="test " * 11 + "wrong",
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 1 and "test" not in wrong.stdout + wrong.stderr
    assert wrong.stderr.strip() == "sweep refused: the mnemonic is not a valid BIP39 phrase"


async def test_funds_summary_answers_a_clear_error_when_the_node_is_down(tmp_path: Path) -> None:
    from tests.harness import running_daemon

    async with running_daemon(tmp_path) as d:  # chain.rpc_urls: a closed port
        reply = await d.call("funds.summary")
        assert reply["error"]["code"] == -32010
        assert reply["error"]["message"].startswith(
            "Provider error: the Ethereum node did not answer"
        )
        assert (await d.call("get_payment", {"id": "x"}))["error"]["code"] == -32004
