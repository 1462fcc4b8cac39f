"""The delegate contract on anvil: funds can only go to the treasury; the deposit key can revoke."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.sweep.kit import TREASURY, send_type4
from xbtcpay.chain import devchain
from xbtcpay.sweep.contracts import (
    delegate_address,
    delegate_sweep_calldata,
    delegation_code,
    sweep_calldata,
)
from xbtcpay.sweep.onchain import batch_delegate

SPONSOR = devchain.dev_key(1)
ATTACKER = devchain.dev_key(2)
DEPOSIT = devchain.dev_key(10)  # unfunded: holds tokens, never ETH for gas


async def delegated(chain: DevChain) -> tuple[str, str]:
    """A batch for TREASURY, and DEPOSIT holding 5 0xBTC and delegating to its delegate."""
    batch = await devchain.deploy(chain.client, "SweepBatch", SPONSOR, [TREASURY])
    delegate = delegate_address(batch, TREASURY)
    await chain.pay_tokens(DEPOSIT.address, units("5"))
    auth = Account.sign_authorization(
        {"chainId": 31337, "address": delegate, "nonce": 0}, DEPOSIT.key
    )
    await send_type4(chain, SPONSOR, SPONSOR.address, "0x", [auth])
    code = await chain.client.call("eth_getCode", [DEPOSIT.address, "latest"])
    assert code == delegation_code(delegate)
    return batch, delegate


async def reverts(
    chain: DevChain, sender: Any, to: str, data: str, *, value: int = 0, gas: int = 300_000
) -> bool:
    """Send with a fixed gas limit (no estimate) and report whether it was mined reverted."""
    tx = await devchain.send_transaction(
        chain.client, sender, to=to, data=data, value=value, gas=gas
    )
    receipt = await devchain.wait_receipt(chain.client, tx, require_success=False)
    return bool(receipt["status"] == "0x0")


async def code(chain: DevChain, address: str) -> str:
    return str(await chain.client.call("eth_getCode", [address, "latest"]))


async def test_the_delegate_address_follows_from_the_batch_and_the_treasury(
    chain: DevChain,
) -> None:
    batch = await devchain.deploy(chain.client, "SweepBatch", SPONSOR, [TREASURY])
    assert await batch_delegate(chain.client, batch) == delegate_address(batch, TREASURY)
    assert delegate_address(batch, TREASURY) != delegate_address(batch, ATTACKER.address)


async def test_calls_that_try_to_send_elsewhere_cannot_succeed(chain: DevChain) -> None:
    await delegated(chain)
    client = chain.client
    transfer = devchain.calldata(
        "transfer(address,uint256)", ["address", "uint256"], [ATTACKER.address, units("5")]
    )
    approve = devchain.calldata(
        "approve(address,uint256)", ["address", "uint256"], [ATTACKER.address, units("5")]
    )
    for data in (transfer, approve, "0xdeadbeef", transfer.replace("0xa9059cbb", "0x23b872dd")):
        assert await reverts(chain, ATTACKER, DEPOSIT.address, data)  # nothing takes a recipient
    # a batch of the attacker's, for the attacker's treasury, cannot use this delegation
    other = await devchain.deploy(client, "SweepBatch", ATTACKER, [ATTACKER.address])
    assert await reverts(chain, ATTACKER, other, sweep_calldata(chain.token, [DEPOSIT.address]))
    assert not await reverts(chain, ATTACKER, DEPOSIT.address, "0x")  # receive(): a no-op
    assert await chain.token_balance(DEPOSIT.address) == units("5")
    # anyone may trigger the sweep itself: it pays the treasury, only
    await devchain.wait_receipt(
        client,
        await devchain.send_transaction(
            client, ATTACKER, to=DEPOSIT.address, data=delegate_sweep_calldata(chain.token)
        ),
    )
    assert await chain.token_balance(DEPOSIT.address) == 0
    assert await chain.token_balance(TREASURY) == units("5")
    assert await chain.token_balance(ATTACKER.address) == 0


async def test_eth_paid_to_a_delegated_address_arrives_and_sweeps_to_the_treasury(
    chain: DevChain,
) -> None:
    batch, _ = await delegated(chain)
    # a delegated account runs receive(): more than 21,000 gas, so the payer must estimate
    assert await reverts(chain, ATTACKER, DEPOSIT.address, "0x", value=10**15, gas=21_000)
    await devchain.wait_receipt(
        chain.client,
        await devchain.send_transaction(
            chain.client, chain.payer, to=DEPOSIT.address, value=10**15
        ),
    )
    assert await chain.eth_balance(DEPOSIT.address) == 10**15
    before = await chain.eth_balance(TREASURY)
    await devchain.wait_receipt(
        chain.client,
        await devchain.send_transaction(
            chain.client, ATTACKER, to=batch, data=sweep_calldata(chain.token, [DEPOSIT.address])
        ),
    )
    assert await chain.eth_balance(DEPOSIT.address) == 0
    assert await chain.eth_balance(TREASURY) == before + 10**15
    assert await chain.token_balance(TREASURY) == units("5")


async def test_the_deposit_key_can_revoke_its_delegation(chain: DevChain) -> None:
    batch, _ = await delegated(chain)
    nonce = int(await chain.client.call("eth_getTransactionCount", [DEPOSIT.address, "latest"]), 16)
    revoke = Account.sign_authorization(
        {"chainId": 31337, "address": "0x" + "00" * 20, "nonce": nonce}, DEPOSIT.key
    )
    await send_type4(chain, SPONSOR, SPONSOR.address, "0x", [revoke])
    assert await code(chain, DEPOSIT.address) == "0x"
    # the batch refuses an address that no longer delegates
    assert await reverts(chain, SPONSOR, batch, sweep_calldata(chain.token, [DEPOSIT.address]))
    assert await chain.token_balance(DEPOSIT.address) == units("5")


async def test_an_authorization_signed_by_another_key_delegates_nothing(chain: DevChain) -> None:
    batch = await devchain.deploy(chain.client, "SweepBatch", SPONSOR, [TREASURY])
    await chain.pay_tokens(DEPOSIT.address, units("5"))
    forged = Account.sign_authorization(
        {"chainId": 31337, "address": delegate_address(batch, TREASURY), "nonce": 0}, ATTACKER.key
    )
    receipt = await send_type4(
        chain,
        SPONSOR,
        batch,
        sweep_calldata(chain.token, [DEPOSIT.address]),
        [forged],
        require_success=False,
    )
    assert receipt["status"] == "0x0"
    assert await code(chain, DEPOSIT.address) == "0x"
    assert await chain.token_balance(DEPOSIT.address) == units("5")
