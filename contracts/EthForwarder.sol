// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title EthForwarder
/// @notice Sends the attached ETH on to `to` from inside a contract call, so the deposit is not
///         visible as a transaction's `to`. Used to test that the watcher still sees it.
contract EthForwarder {
    event Forwarded(address indexed from, address indexed to, uint256 value);

    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
        emit Forwarded(msg.sender, to, msg.value);
    }
}
