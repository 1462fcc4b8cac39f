"""Dev chain helpers against a real anvil: contracts, payments and node controls."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode

from tests.fixtures.chain import DevChain
from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil, AnvilNotFound, find_anvil
from xbtcpay.chain.client import ChainClient
from xbtcpay.core.errors import ChainError

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
MINT = "0xcf6fbb9dcea7d07263ab4f5c3a92f53af33dffc421d9d121e1c74b307e68189d"
DEPOSIT = "0xBcd4042DE499D14e55001CcbB24a551F3b954096"


async def view(chain: DevChain, signature: str, out: str) -> object:
    data = devchain.calldata(signature, [], [])
    raw = await chain.client.call("eth_call", [{"to": chain.token, "data": data}, "latest"])
    return decode([out], bytes.fromhex(raw[2:]))[0]


def topic_address(topic: str) -> str:
    return "0x" + topic[-40:]


def test_mint_topic_is_the_0xbitcoin_event() -> None:
    from eth_utils.crypto import keccak

    assert "0x" + keccak(text="Mint(address,uint256,uint256,bytes32)").hex() == MINT


async def test_token_is_deployed_at_the_well_known_address(chain: DevChain) -> None:
    assert chain.token == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert await view(chain, "symbol()", "string") == "0xBTC"
    assert await view(chain, "name()", "string") == "0xBitcoin Token (test)"
    assert await view(chain, "decimals()", "uint8") == 8
    assert await view(chain, "totalSupply()", "uint256") == devchain.TOKEN_SUPPLY
    assert await chain.token_balance(chain.payer.address) > 0


async def test_deploy_returns_an_address_with_code(chain: DevChain) -> None:
    address = await devchain.deploy(chain.client, "TestZeroXBitcoin", devchain.dev_key(1), [5])
    assert len(await chain.client.call("eth_getCode", [address, "latest"])) > 100
    assert await devchain.token_balance(chain.client, address, devchain.dev_key(1).address) == 5


async def test_transfer_emits_transfer(chain: DevChain) -> None:
    tx = await chain.pay_tokens(DEPOSIT, 150_000_000)
    receipt = await devchain.wait_receipt(chain.client, tx)
    [log] = receipt["logs"]
    assert log["topics"][0] == TRANSFER
    assert topic_address(log["topics"][2]) == DEPOSIT.lower()
    assert int(log["data"], 16) == 150_000_000
    assert await chain.token_balance(DEPOSIT) == 150_000_000


async def test_mine_credits_without_transfer(chain: DevChain) -> None:
    tx = await chain.mine_tokens(DEPOSIT, 5_000_000_000)
    receipt = await devchain.wait_receipt(chain.client, tx)
    assert [log["topics"][0] for log in receipt["logs"]] == [MINT]
    assert topic_address(receipt["logs"][0]["topics"][1]) == DEPOSIT.lower()
    assert await chain.token_balance(DEPOSIT) == 5_000_000_000
    block = int(receipt["blockNumber"], 16)
    assert await chain.client.get_logs(block, block, [chain.token], [TRANSFER]) == []
    assert await view(chain, "totalSupply()", "uint256") == devchain.TOKEN_SUPPLY + 5_000_000_000


async def test_forwarded_eth_is_invisible_as_tx_to(chain: DevChain) -> None:
    tx = await chain.forward_eth(DEPOSIT, 10**18)
    receipt = await devchain.wait_receipt(chain.client, tx)
    block = await chain.client.get_block(int(receipt["blockNumber"], 16), full=True)
    assert block is not None
    assert [t["to"].lower() for t in block["transactions"]] == [chain.forwarder.lower()]
    assert await chain.eth_balance(DEPOSIT) == 10**18
    assert await chain.eth_balance(chain.forwarder) == 0


async def test_plain_eth_payment(chain: DevChain) -> None:
    await chain.pay_eth(DEPOSIT, 12345)
    assert await chain.eth_balance(DEPOSIT) == 12345


async def test_snapshot_and_revert(chain: DevChain) -> None:
    snap = await devchain.snapshot(chain.client)
    await chain.pay_tokens(DEPOSIT, 1)
    await chain.mine(3)
    assert await devchain.revert(chain.client, snap)
    assert await chain.token_balance(DEPOSIT) == 0


async def test_fixture_mess_part_1_leave_a_mess(chain: DevChain) -> None:
    """Leaves a payment, a pending transaction and automine off; part 2 checks the cleanup."""
    await chain.pay_tokens(DEPOSIT, 3)
    await chain.set_automine(False)
    await chain.pay_eth(DEPOSIT, 4, wait=False)
    assert await chain.client.call("anvil_getAutomine", []) is False


async def test_fixture_mess_part_2_state_is_restored(chain: DevChain) -> None:
    assert await chain.token_balance(DEPOSIT) == 0
    assert await chain.client.call("anvil_getAutomine", []) is True
    pool = await chain.client.call("txpool_content", [])
    assert pool["pending"] == {} and pool["queued"] == {}
    await chain.mine(1)
    assert await chain.eth_balance(DEPOSIT) == 0


async def test_automine_off_holds_transactions(chain: DevChain) -> None:
    await chain.set_automine(False)
    head = await chain.block_number()
    tx = await chain.pay_eth(DEPOSIT, 1, wait=False)
    pool = await chain.client.call("txpool_content", [])
    assert [t["hash"] for by_nonce in pool["pending"].values() for t in by_nonce.values()] == [tx]
    assert await chain.client.call("eth_getTransactionReceipt", [tx]) is None
    assert await chain.block_number() == head
    await chain.mine(1)
    receipt = await devchain.wait_receipt(chain.client, tx)
    assert int(receipt["blockNumber"], 16) == head + 1


async def test_reorg_drops_a_mined_payment(chain: DevChain) -> None:
    tx = await chain.pay_tokens(DEPOSIT, 77)
    await chain.mine(2)
    old = await chain.client.get_block("latest")
    head = await chain.block_number()
    await chain.reorg(3)  # the payment's block and the two after it
    assert await chain.block_number() == head
    new = await chain.client.get_block(head)
    assert new is not None and old is not None and new["hash"] != old["hash"]
    assert await chain.client.call("eth_getTransactionReceipt", [tx]) is None
    assert await chain.token_balance(DEPOSIT) == 0


async def test_reorg_can_include_a_replacement(chain: DevChain) -> None:
    await chain.pay_eth(DEPOSIT, 5)
    head = await chain.block_number()
    replacement = {"from": chain.payer.address, "to": DEPOSIT, "value": hex(9)}
    await chain.reorg(1, [(replacement, 0)])
    assert await chain.block_number() == head
    assert await chain.eth_balance(DEPOSIT) == 9


async def test_reverted_transaction_raises(chain: DevChain) -> None:
    poor = devchain.dev_key(3)
    data = devchain.calldata("transfer(address,uint256)", ["address", "uint256"], [DEPOSIT, 1])
    tx = await devchain.send_transaction(chain.client, poor, to=chain.token, data=data, gas=100_000)
    with pytest.raises(ChainError, match="reverted"):
        await devchain.wait_receipt(chain.client, tx)


async def test_anvil_starts_on_given_chain_id_and_stops() -> None:
    async with Anvil(chain_id=1337) as node:
        async with ChainClient([node.url]) as client:
            assert await client.chain_id() == 1337
        process = node.process
        assert process is not None
    assert process.poll() is not None  # the real binary is gone


def test_missing_binary_names_npm_install(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANVIL_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.chdir(str(tmp_path))
    with pytest.raises(AnvilNotFound, match="npm install"):
        find_anvil(root=tmp_path)  # type: ignore[arg-type]


async def test_the_session_node_is_renewed_in_place_with_its_contracts(
    anvil: Anvil, token: str, forwarder: str
) -> None:
    from tests.fixtures.chain import _has_code, _renewed

    url, before = anvil.url, anvil.process
    async with ChainClient([url]) as client:
        await client.call("anvil_setCode", [token, "0x"])  # as anvil's lost state looks
    assert not await _has_code(url, token)
    await _renewed(anvil, token, forwarder)
    assert anvil.url == url and anvil.process is not before  # a new node, same port
    assert await _has_code(url, token) and await _has_code(url, forwarder)
    async with ChainClient([url]) as client:
        assert await devchain.token_balance(client, token, devchain.dev_key(0).address) > 0
