"""Development chain helpers: dev keys, contract deployment, payments and anvil controls.

Used by ``xbtcpay dev`` and the tests. Everything goes through ``ChainClient`` with
transactions signed locally by eth-account; the dev mnemonic is anvil's default, so accounts
0-9 are funded and deposit indexes from 10 on are empty.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import coincurve
from eth_abi.abi import encode
from eth_account import Account
from eth_account.hdaccount import seed_from_mnemonic
from eth_account.hdaccount.deterministic import HDPath
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from xbtcpay.chain.client import ChainClient
from xbtcpay.core.errors import ChainError

DEV_MNEMONIC = "test test test test test test test test test test test junk"
ACCOUNT_PATH = "m/44'/60'/0'"
TOKEN_SUPPLY = 21_000_000 * 10**8  # 21M 0xBTC in base units, all to the deployer
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_XPUB_VERSION = bytes.fromhex("0488b21e")
_TIP = 10**9  # 1 gwei priority fee


# -- keys ------------------------------------------------------------------------------------


def dev_key(index: int, mnemonic: str = DEV_MNEMONIC) -> LocalAccount:
    """The account m/44'/60'/0'/0/<index> of the dev mnemonic (0-9 are funded on anvil)."""
    seed = seed_from_mnemonic(mnemonic, "")
    key = HDPath(f"{ACCOUNT_PATH}/0/{index}").derive(seed)
    account: LocalAccount = Account.from_key(key)
    return account


def _b58check(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number, text = int.from_bytes(data, "big"), ""
    while number:
        number, rem = divmod(number, 58)
        text = _B58[rem] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def _hash160(data: bytes) -> bytes:
    from Crypto.Hash import RIPEMD160  # pycryptodome: OpenSSL 3 may lack ripemd160

    return bytes(RIPEMD160.new(hashlib.sha256(data).digest()).digest())


def account_xpub(mnemonic: str = DEV_MNEMONIC, account: int = 0) -> str:
    """The BIP44 account xpub m/44'/60'/<account>' of a mnemonic (BIP32 serialisation)."""
    node = hmac.new(b"Bitcoin seed", seed_from_mnemonic(mnemonic, ""), hashlib.sha512).digest()
    key, chain_code = node[:32], node[32:]
    parent_public = b""
    for index in (44, 60, account):
        parent_public = coincurve.PrivateKey(key).public_key.format(compressed=True)
        child = index + 0x80000000
        digest = hmac.new(
            chain_code, b"\0" + key + child.to_bytes(4, "big"), hashlib.sha512
        ).digest()
        tweak = int.from_bytes(digest[:32], "big")
        key = coincurve.PrivateKey(key).add(tweak.to_bytes(32, "big")).secret
        chain_code = digest[32:]
    public = coincurve.PrivateKey(key).public_key.format(compressed=True)
    payload = (
        _XPUB_VERSION
        + bytes([3])
        + _hash160(parent_public)[:4]
        + (account + 0x80000000).to_bytes(4, "big")
        + chain_code
        + public
    )
    return _b58check(payload)


@cache
def dev_xpub() -> str:
    """The account-level xpub (m/44'/60'/0') of the dev mnemonic."""
    return account_xpub(DEV_MNEMONIC)


# -- contracts -------------------------------------------------------------------------------


@cache
def _artifact_text(name: str) -> str:
    return resources.files("xbtcpay.chain").joinpath(f"artifacts/{name}.json").read_text()


def artifact(name: str) -> dict[str, Any]:
    """The compiled artifact {abi, bytecode} of a bundled contract (e.g. "TestZeroXBitcoin")."""
    data: dict[str, Any] = json.loads(_artifact_text(name))
    return data


def calldata(signature: str, types: Sequence[str], args: Sequence[Any]) -> str:
    """ABI-encoded call data, e.g. calldata("transfer(address,uint256)", [...], [to, 5])."""
    selector = keccak(text=signature)[:4]
    return "0x" + (selector + encode(list(types), list(args))).hex()


async def send_transaction(
    client: ChainClient,
    sender: LocalAccount,
    *,
    to: str | None,
    data: str = "0x",
    value: int = 0,
    gas: int | None = None,
) -> str:
    """Sign a type-2 transaction locally and broadcast it; returns the tx hash."""
    tx: dict[str, Any] = {"from": sender.address, "value": hex(value), "data": data}
    if to is not None:
        tx["to"] = to_checksum_address(to)
    chain_id, nonce, block = await asyncio.gather(
        client.chain_id(),
        client.call("eth_getTransactionCount", [sender.address, "pending"]),
        client.get_block("latest"),
    )
    if gas is None:
        gas = int(int(await client.call("eth_estimateGas", [tx]), 16) * 1.3) + 10_000
    base_fee = int((block or {}).get("baseFeePerGas", "0x0"), 16)
    tx.update(
        value=value,
        chainId=chain_id,
        nonce=int(nonce, 16),
        gas=gas,
        maxPriorityFeePerGas=_TIP,
        maxFeePerGas=2 * base_fee + _TIP,
        type=2,
    )
    del tx["from"]
    signed = sender.sign_transaction(tx)
    return str(await client.call("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]))


async def wait_receipt(
    client: ChainClient,
    tx_hash: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109
    poll: float = 0.05,
    require_success: bool = True,
) -> dict[str, Any]:
    """Poll for a transaction receipt; ChainError on timeout or (by default) on revert."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        receipt = await client.call("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            if require_success and receipt.get("status") != "0x1":
                raise ChainError(f"transaction {tx_hash} reverted")
            return dict(receipt)
        if loop.time() > deadline:
            raise ChainError(f"no receipt for {tx_hash} after {timeout}s")
        await asyncio.sleep(poll)


async def deploy(
    client: ChainClient, artifact_name: str, sender_key: LocalAccount, args: Sequence[Any] = ()
) -> str:
    """Deploy a bundled contract, wait for it to be mined, return its checksummed address."""
    art = artifact(artifact_name)
    ctor = next((item for item in art["abi"] if item["type"] == "constructor"), None)
    types = [i["type"] for i in ctor["inputs"]] if ctor else []
    data = art["bytecode"] + encode(types, list(args)).hex()
    tx_hash = await send_transaction(client, sender_key, to=None, data=data)
    receipt = await wait_receipt(client, tx_hash)
    return to_checksum_address(receipt["contractAddress"])


async def send_tokens(
    client: ChainClient, token: str, to: str, units: int, sender_key: LocalAccount
) -> str:
    """ERC-20 transfer (emits Transfer); returns the tx hash without waiting."""
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [to, units])
    return await send_transaction(client, sender_key, to=token, data=data)


async def mine_tokens(
    client: ChainClient, token: str, to: str, units: int, sender_key: LocalAccount
) -> str:
    """TestZeroXBitcoin.mine: credits ``to`` with a Mint event and no Transfer event."""
    data = calldata("mine(address,uint256)", ["address", "uint256"], [to, units])
    return await send_transaction(client, sender_key, to=token, data=data)


async def send_eth(client: ChainClient, to: str, wei: int, sender_key: LocalAccount) -> str:
    """A plain ETH transfer (tx.to is the recipient)."""
    return await send_transaction(client, sender_key, to=to, value=wei, gas=21_000)


async def forward_eth(
    client: ChainClient, forwarder: str, to: str, wei: int, sender_key: LocalAccount
) -> str:
    """ETH sent to ``to`` from inside EthForwarder.forward (tx.to is the forwarder)."""
    data = calldata("forward(address)", ["address"], [to])
    return await send_transaction(client, sender_key, to=forwarder, data=data, value=wei)


async def token_balance(
    client: ChainClient, token: str, address: str, block: int | str = "latest"
) -> int:
    """balanceOf(address) in base units."""
    return (await client.erc20_balances(token, [address], block))[address]


# -- anvil controls --------------------------------------------------------------------------


async def mine(client: ChainClient, n: int = 1) -> None:
    """Mine ``n`` blocks at once (anvil_mine)."""
    await client.call("anvil_mine", [hex(n)])


async def snapshot(client: ChainClient) -> str:
    """Take an EVM snapshot; returns its id."""
    return str(await client.call("evm_snapshot", []))


async def revert(client: ChainClient, snapshot_id: str) -> bool:
    """Revert to a snapshot (it and later snapshots are consumed)."""
    return bool(await client.call("evm_revert", [snapshot_id]))


async def reorg(
    client: ChainClient, depth: int, tx_block_pairs: Sequence[tuple[dict[str, Any] | str, int]] = ()
) -> None:
    """anvil_reorg: replace the last ``depth`` blocks, putting each tx into block index i.

    Index 0 is the first block after the common ancestor; a tx is a JSON transaction request
    or a raw signed hex string. Orphaned transactions are dropped, not re-queued.
    """
    await client.call("anvil_reorg", [depth, [[tx, index] for tx, index in tx_block_pairs]])


async def set_automine(client: ChainClient, on: bool) -> None:
    """Mine every transaction at once (on) or stop mining entirely (off, until mine())."""
    if not on:
        await client.call("evm_setIntervalMining", [0])
    await client.call("evm_setAutomine", [on])
