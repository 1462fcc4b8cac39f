// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title SweepDelegate
/// @notice EIP-7702 delegate of xbtcpay deposit addresses. Its only action moves the delegating
///         account's whole balance of one ERC-20 token, and all of its ETH, to `treasury`.
///         `treasury` is an immutable: it is part of this code, so it holds in the context of
///         every account that delegates here, and nothing can change it. Anyone may trigger a
///         sweep (the gas wallet does); nobody can send the funds anywhere else.
contract SweepDelegate {
    address payable public immutable treasury;

    error ZeroTreasury();
    error TransferFailed(address token);

    constructor(address payable treasury_) {
        if (treasury_ == address(0)) revert ZeroTreasury();
        treasury = treasury_;
    }

    /// @notice Plain ETH payments to a delegated deposit address keep arriving.
    receive() external payable {}

    /// @notice Move this account's whole balance of `token` (none when `token` is zero) and all
    ///         of its ETH to the treasury.
    function sweep(address token) external {
        if (token != address(0)) {
            (bool okBalance, bytes memory balanceData) =
                token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
            if (!okBalance || balanceData.length < 32) revert TransferFailed(token);
            uint256 amount = abi.decode(balanceData, (uint256));
            if (amount > 0) {
                (bool ok, bytes memory ret) =
                    token.call(abi.encodeWithSelector(0xa9059cbb, treasury, amount));
                if (!ok || (ret.length > 0 && !abi.decode(ret, (bool)))) {
                    revert TransferFailed(token);
                }
            }
        }
        uint256 eth = address(this).balance;
        if (eth > 0) {
            (bool sent, ) = treasury.call{value: eth}("");
            if (!sent) revert TransferFailed(address(0));
        }
    }
}
