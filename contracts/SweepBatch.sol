// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./SweepDelegate.sol";

/// @title SweepBatch
/// @notice Deploys the SweepDelegate of one treasury (CREATE2, salt 0, so the delegate's
///         address follows from this contract's address and the treasury: an offline signer can
///         check that a plan's delegate really pays the plan's treasury) and sweeps many
///         delegated deposit addresses in one transaction.
contract SweepBatch {
    address public immutable delegate;
    bytes32 public immutable delegation;

    /// @dev `account` is not delegated to `delegate` (its code is not 0xef0100 || delegate).
    error NotDelegated(address account);

    constructor(address payable treasury) {
        address created = address(new SweepDelegate{salt: bytes32(0)}(treasury));
        delegate = created;
        delegation = keccak256(abi.encodePacked(hex"ef0100", created));
    }

    /// @notice Sweep `token` (and ETH) of every account; all of them must delegate to `delegate`.
    function sweep(address token, address[] calldata accounts) external {
        for (uint256 i = 0; i < accounts.length; ++i) {
            address account = accounts[i];
            if (account.codehash != delegation) revert NotDelegated(account);
            SweepDelegate(payable(account)).sweep(token);
        }
    }
}
