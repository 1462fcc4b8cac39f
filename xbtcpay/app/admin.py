"""``xbtcpay admin``: the private port's API keys and the dashboard's users.

Argument parsing and printing only. ``create-key|list-keys|revoke-key``: the key is minted
by ``xbtcpay.web.key_auth`` and stored by ``xbtcpay.storage.api_keys`` (only its hash);
``create-key`` prints it once, alone on stdout (so ``KEY=$(xbtcpay admin create-key ...)``
works), its details on stderr. ``create-user|passwd|disable|enable|list-users``: passwords
are read from stdin (asked twice on a terminal) and hashed with Argon2id
(``xbtcpay.web.admin.accounts``). Every change lands in the dashboard's audit log.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from xbtcpay.app.config import Config
from xbtcpay.core.persistence import Engine
from xbtcpay.storage.admin_audit import AuditLog
from xbtcpay.storage.admin_sessions import AdminSessionStore
from xbtcpay.storage.admin_users import AdminUserStore
from xbtcpay.storage.api_keys import ApiKey, ApiKeyStore
from xbtcpay.storage.engines import open_engine
from xbtcpay.web.admin.accounts import ROLES, check_password, hash_password
from xbtcpay.web.key_auth import mint_key
from xbtcpay.web.scopes import SCOPES, parse_scopes

_DURATION = re.compile(r"^(\d+)([mhdw])\Z")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    admin = sub.add_parser(
        "admin", help="API keys of the private port, users of the dashboard", parents=[common]
    )
    asub = admin.add_subparsers(dest="action", required=True)
    create = asub.add_parser(
        "create-key", help="create an API key and print it once (only its hash is stored)"
    )
    create.add_argument(
        "--scopes",
        required=True,
        help="comma-separated scopes: " + ",".join(sorted(SCOPES)),
    )
    create.add_argument(
        "--expires",
        default="never",
        help="30d, 12h, 90m, 2w, a UTC date or time (2027-01-31, 2027-01-31T12:00) or never",
    )
    create.add_argument("--name", default="", help="a label: which shop or backend holds it")
    asub.add_parser("list-keys", help="list API keys, newest first (never the keys)")
    revoke = asub.add_parser("revoke-key", help="revoke an API key at once")
    revoke.add_argument("id", help="the key's id (as list-keys shows it)")
    user = asub.add_parser("create-user", help="create a dashboard user (password from stdin)")
    user.add_argument("name")
    user.add_argument("--role", choices=ROLES, required=True)
    passwd = asub.add_parser("passwd", help="set a user's password (from stdin); ends its sessions")
    passwd.add_argument("name")
    disable = asub.add_parser("disable", help="disable a user at once; ends its sessions")
    disable.add_argument("name")
    enable = asub.add_parser("enable", help="enable a disabled user again")
    enable.add_argument("name")
    asub.add_parser("list-users", help="list dashboard users")


def expiry_of(text: str, now: float) -> int | None:
    """UNIX time of ``--expires`` (None for never), or ValueError saying what is accepted."""
    value = text.strip().lower()
    if value == "never":
        return None
    match = _DURATION.match(value)
    if match:
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds <= 0:
            raise ValueError("--expires must lie in the future")
        return int(now) + seconds
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--expires {text!r}: expected 30d, 12h, 90m, 2w, a UTC date or time, or never"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    at = int(when.timestamp())
    if at <= now:
        raise ValueError(f"--expires {text!r} lies in the past")
    return at


def _when(at: int | None) -> str:
    if at is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def state_of(key: ApiKey, now: float) -> str:
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    return "active" if key.usable_at(now) else "expired"


def read_password() -> str:
    """The new password: asked twice on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the passwords differ")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    check_password(password)
    return password


def _actor() -> str:
    try:
        return f"cli:{os.getlogin()}"
    except OSError:
        return f"cli:uid{os.getuid()}"


_USER_ACTIONS = ("create-user", "passwd", "disable", "enable", "list-users")


async def run(config: Config, args: argparse.Namespace) -> int:
    if args.action in _USER_ACTIONS:
        return await _run_users(config, args)
    return await _run_keys(config, args)


async def _open(config: Config) -> Engine:
    password = config.database_password.reveal() if config.database_password else None
    return await open_engine(
        config.database, password=password, pool_size=config.database_pool_size
    )


async def _run_users(config: Config, args: argparse.Namespace) -> int:
    now = int(time.time())
    password = ""
    if args.action in ("create-user", "passwd"):
        try:
            password = read_password()
        except ValueError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
    db = await _open(config)
    users, audit = AdminUserStore(db), AuditLog(db)
    try:
        if args.action == "list-users":
            print(f"{'name':24} {'role':9} {'state':8} created")
            for u in await users.list():
                state = "disabled" if u.disabled else "active"
                print(f"{u.name:24} {u.role:9} {state:8} {_when(u.created_at)}")
            return 0
        name = args.name
        if args.action == "create-user":
            if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", name):
                print("refused: a name has 1-64 letters, digits or . _ @ -", file=sys.stderr)
                return 1
            if not await users.create(name, args.role, hash_password(password), now):
                print(f"refused: a user {name} exists", file=sys.stderr)
                return 1
            details = {"role": args.role}
        elif args.action == "passwd":
            details = {}
            if not await users.update(name, now, password_hash=hash_password(password)):
                print(f"no user {name}", file=sys.stderr)
                return 1
        else:
            details = {}
            if not await users.update(name, now, disabled=args.action == "disable"):
                print(f"no user {name}", file=sys.stderr)
                return 1
        if args.action in ("passwd", "disable"):
            details["sessions_ended"] = await AdminSessionStore(db).revoke_user(name, now)
        action = {"create-user": "user.create", "passwd": "user.passwd"}.get(
            args.action, f"user.{args.action}"
        )
        await audit.append(
            at=now, actor=_actor(), action=action, target=name, address="local", details=details
        )
        done = f"user {name} created ({args.role})" if args.action == "create-user" else ""
        print(done or f"user {name}: {args.action} done")
        return 0
    finally:
        await db.close()


async def _run_keys(config: Config, args: argparse.Namespace) -> int:
    now = time.time()
    if args.action == "create-key":
        try:
            scopes = parse_scopes(args.scopes)
            expires_at = expiry_of(args.expires, now)
        except ValueError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
    db = await _open(config)
    store = ApiKeyStore(db)
    try:
        if args.action == "create-key":
            key_id, key, hashed = mint_key()
            await store.create(
                ApiKey(key_id, args.name, hashed, scopes, int(now), expires_at, None)
            )
            await AuditLog(db).append(
                at=int(now),
                actor=_actor(),
                action="key.create",
                target=key_id,
                address="local",
                details={"scopes": sorted(scopes), "expires_at": expires_at, "name": args.name},
            )
            print(key)
            print(
                f"API key {key_id} created (scopes {','.join(sorted(scopes))},"
                f" expires {_when(expires_at)}).\n"
                "It is shown only this once: only its hash is stored.",
                file=sys.stderr,
            )
            return 0
        if args.action == "list-keys":
            print(f"{'id':16} {'state':8} {'created':23} {'expires':23} {'name':16} scopes")
            for k in await store.list():
                print(
                    f"{k.id:16} {state_of(k, now):8} {_when(k.created_at):23} "
                    f"{_when(k.expires_at):23} {k.name[:16]:16} {','.join(sorted(k.scopes))}"
                )
            return 0
        if not await store.revoke(args.id, int(now)):
            print(f"no active API key {args.id}", file=sys.stderr)
            return 1
        await AuditLog(db).append(
            at=int(now), actor=_actor(), action="key.revoke", target=args.id, address="local"
        )
        print(f"API key {args.id} revoked")
        return 0
    finally:
        await db.close()
