// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title A Uniswap v2-style pair for development chains (test)
/// @notice Answers `token0()`, `token1()` and `getReserves()` as a v2 pair does; the reserves
///         are set by whoever deployed it (no swaps), so tests can move the price.
contract MockPairV2 {
    address public immutable token0;
    address public immutable token1;
    address private immutable owner;
    uint112 private reserve0;
    uint112 private reserve1;
    uint32 private blockTimestampLast;

    constructor(address tokenA, address tokenB, uint112 reserveA, uint112 reserveB) {
        owner = msg.sender;
        bool aFirst = tokenA < tokenB;
        (token0, token1) = aFirst ? (tokenA, tokenB) : (tokenB, tokenA);
        _set(aFirst ? reserveA : reserveB, aFirst ? reserveB : reserveA);
    }

    /// @notice Reserves given in the order of the constructor's tokens (A, B).
    function setReserves(uint112 reserveA, uint112 reserveB, address tokenA) external {
        require(msg.sender == owner, "owner only");
        bool aFirst = tokenA == token0;
        _set(aFirst ? reserveA : reserveB, aFirst ? reserveB : reserveA);
    }

    function getReserves() external view returns (uint112, uint112, uint32) {
        return (reserve0, reserve1, blockTimestampLast);
    }

    function _set(uint112 r0, uint112 r1) private {
        reserve0 = r0;
        reserve1 = r1;
        blockTimestampLast = uint32(block.timestamp);
    }
}
