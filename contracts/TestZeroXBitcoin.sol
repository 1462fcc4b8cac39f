// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title 0xBitcoin Token (test)
/// @notice A minimal ERC-20 for development chains that behaves like 0xBitcoin where a payment
///         watcher cares: 8 decimals, Transfer/Approval events, and a `mine` path that credits
///         tokens while emitting only `Mint` (no Transfer), as real 0xBitcoin mining rewards do.
contract TestZeroXBitcoin {
    string public constant name = "0xBitcoin Token (test)";
    string public constant symbol = "0xBTC";
    uint8 public constant decimals = 8;

    uint256 public totalSupply;
    uint256 public epochCount;
    bytes32 public challengeNumber;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Mint(address indexed from, uint reward_amount, uint epochCount, bytes32 newChallengeNumber);

    constructor(uint256 initialSupply) {
        totalSupply = initialSupply;
        balanceOf[msg.sender] = initialSupply;
        challengeNumber = blockhash(block.number - 1);
        emit Transfer(address(0), msg.sender, initialSupply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "allowance too low");
        if (allowed != type(uint256).max) {
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    /// @notice Credit `amount` to `to` the way a 0xBitcoin mining reward does: Mint only.
    function mine(address to, uint256 amount) external returns (bool) {
        totalSupply += amount;
        balanceOf[to] += amount;
        epochCount += 1;
        challengeNumber = blockhash(block.number - 1);
        emit Mint(to, amount, epochCount, challengeNumber);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(balanceOf[from] >= value, "balance too low");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
