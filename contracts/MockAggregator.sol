// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title A price feed for development chains (test)
/// @notice Answers `latestRoundData()` and `decimals()` as a Chainlink aggregator does; the
///         answer and its time are set by whoever deployed it, so tests can make it stale,
///         negative or unfinished.
contract MockAggregator {
    uint8 public immutable decimals;
    address private immutable owner;
    uint80 private roundId;
    int256 private answer;
    uint256 private updatedAt;
    uint80 private answeredInRound;

    constructor(uint8 decimals_, int256 answer_) {
        decimals = decimals_;
        owner = msg.sender;
        _set(answer_, block.timestamp, 1, 1);
    }

    function setRound(int256 answer_, uint256 updatedAt_, uint80 roundId_, uint80 answeredInRound_) external {
        require(msg.sender == owner, "owner only");
        _set(answer_, updatedAt_, roundId_, answeredInRound_);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answer, updatedAt, updatedAt, answeredInRound);
    }

    function _set(int256 answer_, uint256 updatedAt_, uint80 roundId_, uint80 answeredInRound_) private {
        answer = answer_;
        updatedAt = updatedAt_;
        roundId = roundId_;
        answeredInRound = answeredInRound_;
    }
}
