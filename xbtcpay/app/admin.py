"""``xbtcpay admin create-key|list-keys|revoke-key``: the private port's API keys.

Argument parsing and printing only. The key is minted by ``xbtcpay.web.key_auth`` and
stored by ``xbtcpay.storage.api_keys`` (only its hash); ``create-key`` prints it once, alone
on stdout (so ``KEY=$(xbtcpay admin create-key ...)`` works), its details on stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from xbtcpay.app.config import Config
from xbtcpay.storage.api_keys import ApiKey, ApiKeyStore
from xbtcpay.storage.engines import open_engine
from xbtcpay.web.key_auth import mint_key
from xbtcpay.web.scopes import SCOPES, parse_scopes

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    admin = sub.add_parser("admin", help="API keys of the private port", parents=[common])
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


async def run(config: Config, args: argparse.Namespace) -> int:
    now = time.time()
    if args.action == "create-key":
        try:
            scopes = parse_scopes(args.scopes)
            expires_at = expiry_of(args.expires, now)
        except ValueError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
    password = config.database_password.reveal() if config.database_password else None
    db = await open_engine(config.database, password=password, pool_size=config.database_pool_size)
    store = ApiKeyStore(db)
    try:
        if args.action == "create-key":
            key_id, key, hashed = mint_key()
            await store.create(
                ApiKey(key_id, args.name, hashed, scopes, int(now), expires_at, None)
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
        print(f"API key {args.id} revoked")
        return 0
    finally:
        await db.close()
