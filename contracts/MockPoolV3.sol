// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title A Uniswap v3-style pool oracle for development chains (test)
/// @notice Answers `token0()` and `observe(secondsAgos)` as if the pool had stood at one tick
///         for as long as asked, so the time-weighted average tick is that tick.
contract MockPoolV3 {
    address public immutable token0;
    address public immutable token1;
    address private immutable owner;
    int24 private tick;

    constructor(address tokenA, address tokenB, int24 tick_) {
        owner = msg.sender;
        (token0, token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        tick = tick_;
    }

    function setTick(int24 tick_) external {
        require(msg.sender == owner, "owner only");
        tick = tick_;
    }

    function observe(uint32[] calldata secondsAgos)
        external
        view
        returns (int56[] memory tickCumulatives, uint160[] memory secondsPerLiquidityCumulativeX128s)
    {
        tickCumulatives = new int56[](secondsAgos.length);
        secondsPerLiquidityCumulativeX128s = new uint160[](secondsAgos.length);
        for (uint256 i = 0; i < secondsAgos.length; i++) {
            int56 moment = int56(uint56(block.timestamp - secondsAgos[i]));
            tickCumulatives[i] = int56(tick) * moment;
        }
    }
}
