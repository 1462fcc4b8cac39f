"""The public port: status.json for browsers, health, and plugin routes (webhooks); health
and the Prometheus metrics also answer on the private port."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from xbtcpay.web.keys import (
    CHAIN_HEAD,
    CONFIG,
    CORE,
    DATABASE,
    LEADERSHIP,
    METRICS,
    PAYMENTS,
    POSTBACKS,
    STATUS_ABSENT,
    STATUS_CACHE,
)
from xbtcpay.web.status_cache import read_status

_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_NO_STORE = {"Cache-Control": "no-store"}
# Sent on every public answer; the status.json fast path sends the same (one definition).
CORS_FIXED = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, Accept, X-Session-Id, X-Network-Id, X-Request-CID, X-Request-Token"
    ),
    "Access-Control-Max-Age": "600",
}


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=_NO_STORE,
    )


async def status_json(request: web.Request) -> web.Response:
    payment_id = request.match_info["id"]
    if not _ID.match(payment_id) or request.get(STATUS_ABSENT) == payment_id:
        return _json({"error": "not found"}, status=404)  # (absent: read on the fast path)
    app = request.app
    body = await read_status(
        app[STATUS_CACHE], app[PAYMENTS], app[CONFIG], app[CORE], app[CHAIN_HEAD], payment_id
    )
    if body is None:
        return _json({"error": "not found"}, status=404)
    return web.Response(body=body, content_type="application/json", headers=_NO_STORE)


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness with details (private port): database, chain head, watcher."""
    ok, checks = await _health(request)
    return _json(
        {"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503
    )


async def healthz_public(request: web.Request) -> web.Response:
    """The same verdict for load balancers, without details: the chain head, its age and the
    watcher's state tell an outsider nothing they need, and errors may name internals."""
    ok, _ = await _health(request)
    return _json({"status": "ok" if ok else "degraded"}, status=200 if ok else 503)


async def _health(request: web.Request) -> tuple[bool, dict[str, Any]]:
    head = request.app[CHAIN_HEAD]
    checks: dict[str, Any] = {}
    ok = True
    try:
        await request.app[DATABASE].fetchone("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"error: {exc}"
        ok = False
    age = None if head.at is None else round(time.time() - head.at, 1)
    limit = max(60.0, 10 * request.app[CONFIG].chain.poll_interval)
    lead = request.app[LEADERSHIP]
    if lead.is_leader:
        chain_ok = head.watched is False or (age is not None and age <= limit)
    else:  # a follower does not scan: the chain is the leader's, which holds a live lease
        chain_ok = head.watched is False or lead.leader_id is not None
    checks["chain"] = {
        "head": head.number,
        "head_age_seconds": age,
        "watcher": head.watched,
        "ok": chain_ok,
    }
    chains: dict[str, Any] = {}
    for key, own in head.chains.items():  # node health: a chain whose every node is stale
        chains[key] = {
            "head": own.number,
            "head_age_seconds": None if own.head_age is None else round(own.head_age, 1),
            "watcher": own.watched,
            "stale": own.stale,
            "stale_urls": list(own.stale_urls),
        }
        chain_ok = chain_ok and not (own.watched and own.stale)
    checks["chain"]["ok"] = chain_ok
    checks["chain"]["chains"] = chains
    checks["cluster"] = {
        "replica": lead.replica_id,
        "leader": lead.leader_id,
        "term": lead.leader_term,
        "is_leader": lead.is_leader,
    }
    return ok and chain_ok, checks


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics (private port): counts are read from the database per scrape."""
    exported, lead = request.app[METRICS], request.app[LEADERSHIP]
    exported.set_counts(
        await request.app[PAYMENTS].count_by_status(), await request.app[POSTBACKS].stats()
    )
    exported.set_cluster(lead.replica_id, lead.is_leader, lead.leader_term)
    return web.Response(body=exported.render(), content_type="text/plain", charset="utf-8")


def cors_middleware(origins: tuple[str, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """CORS so the original's browser snippet works from any allowed shop origin."""
    allow_all = "*" in origins
    fixed = dict(CORS_FIXED)
    if allow_all:
        fixed["Access-Control-Allow-Origin"] = "*"

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin:
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        response.headers.update(fixed)
        if not allow_all and origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    return cors
