"""A refund's payout transaction: an ERC-20 ``transfer`` or a plain ETH transfer to the
refund's address, from the payout hot wallet (signed here) or from the merchant's own
wallet (``payouts.method: external``: unsigned, with an EIP-681 URI)."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from xbtcpay.chain.client import ChainClient, NodeError
from xbtcpay.core.settings import AssetConfig
from xbtcpay.storage.refunds import PayoutWallet, Refund, SignedPayout

TRANSFER = "0xa9059cbb"  # transfer(address,uint256)
TIP = 10**9
ETH_GAS = 21_000


class PayoutRefused(Exception):
    """The node will not take the payout (estimate or broadcast refused)."""


def transfer_call(spec: AssetConfig, to: str, units: int) -> dict[str, Any]:
    """``to``/``value``/``data`` of the transfer of ``units`` of ``spec`` to ``to``."""
    if spec.native or spec.contract is None:
        return {"to": to, "value": units, "data": "0x"}
    data = TRANSFER + to.lower()[2:].rjust(64, "0") + format(units, "064x")
    return {"to": spec.contract, "value": 0, "data": data}


def wallet_account(key: str) -> LocalAccount:
    account: LocalAccount = Account.from_key(key)
    return account


async def prepare(
    client: ChainClient, account: LocalAccount, spec: AssetConfig, refund: Refund, chain_id: int
) -> PayoutWallet:
    """Gas, fees and the node's pending nonce, read before the approval's unit of work;
    the signing itself (given the nonce the store picks) is local."""
    assert refund.address is not None
    call = transfer_call(spec, refund.address, refund.units)
    sender = str(account.address)
    if spec.native:
        gas = ETH_GAS
    else:
        rpc = {"from": sender, "to": call["to"], "data": call["data"]}
        try:
            gas = int(await client.call("eth_estimateGas", [rpc]), 16) * 6 // 5
        except NodeError as exc:
            raise PayoutRefused(f"the node refuses the payout: {exc}") from None
    block = await client.get_block("latest") or {}
    base_fee = int(str(block.get("baseFeePerGas", "0x0")), 16)
    node_nonce = int(await client.call("eth_getTransactionCount", [sender, "pending"]), 16)

    def sign(nonce: int) -> SignedPayout:
        tx = {
            **call,
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": 2 * base_fee + TIP,
            "maxPriorityFeePerGas": TIP,
        }
        signed = account.sign_transaction(tx)
        raw = "0x" + bytes(signed.raw_transaction).hex()
        return SignedPayout(sender.lower(), nonce, signed.hash.to_0x_hex(), raw)

    return PayoutWallet(sender.lower(), node_nonce, sign)
