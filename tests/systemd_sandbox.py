"""Run ``xbtcpay`` under two of the unit's kernel restrictions, applied without systemd.

Usage: ``python tests/systemd_sandbox.py XBTCPAY-ARGS...`` with ``XBTCPAY_TEST_SANDBOX`` set to
JSON ``{"mdwe": bool, "allow": [syscall names] | null}``:

- ``mdwe``: the kernel's write-xor-execute lock (``prctl(PR_SET_MDWE)``, Linux >= 6.3), the
  same promise as ``MemoryDenyWriteExecute=yes``;
- ``allow``: a seccomp allow-list loaded through libseccomp, every other system call failing
  with EPERM, as ``SystemCallFilter=`` with ``SystemCallErrorNumber=EPERM`` does.

Both are switched on before xbtcpay or any of its dependencies is imported, and each is
proven to bite before the daemon runs. Exit status 77: not supported here; 78: a restriction
did not take effect.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import mmap
import os
import runpy
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_EPERM = 0x00050000 | errno.EPERM


def lock_memory(libc: ctypes.CDLL) -> None:
    """Refuse writable+executable memory from now on, for this process and its children."""
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except PermissionError:
        return
    sys.exit(78)


def filter_syscalls(libc: ctypes.CDLL, allow: list[str]) -> None:
    """Load a seccomp filter that allows ``allow`` and fails everything else with EPERM."""
    name = ctypes.util.find_library("seccomp")
    if name is None:
        sys.exit(77)
    seccomp = ctypes.CDLL(name)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
    ]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = seccomp.seccomp_init(SCMP_ACT_ERRNO_EPERM)
    for call in allow:
        number = seccomp.seccomp_syscall_resolve_name(call.encode())
        # names of other architectures resolve to negative numbers
        if number >= 0 and seccomp.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, number, 0) != 0:
            sys.exit(78)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if seccomp.seccomp_load(ctx) != 0:
        sys.exit(78)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0))  # @resources
    except PermissionError:
        return
    sys.exit(78)


def main() -> None:
    settings = json.loads(os.environ["XBTCPAY_TEST_SANDBOX"])
    libc = ctypes.CDLL(None, use_errno=True)
    if settings.get("mdwe"):
        lock_memory(libc)
    if settings.get("allow") is not None:
        filter_syscalls(libc, settings["allow"])
    sys.argv = ["xbtcpay", *sys.argv[1:]]
    runpy.run_module("xbtcpay", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
