"""The fast path of status.json: a cached body answered before routing and middlewares.

Browsers poll ``GET /<id>/status.json`` once a second per open checkout, so this one route
dominates the public port's load. In front of the public application's own handler, a GET of
exactly ``/<id>/status.json`` whose body is in the status cache (valid at the current chain
head) is answered at once with the same bytes and headers the full stack would send:
``Content-Type``, ``Cache-Control: no-store``, the CORS headers of ``public.cors_origins`` and
``X-Request-Id``. A miss for a payment that exists is read, rendered and cached here too
(``read``: the same ``read_status`` the handler runs) and answered the same way: on
PostgreSQL a miss is a round trip to the database, and the routing and middlewares around
it were a good part of what the rest of the request cost. Everything else (unknown ids and
their 404s, a read that fails, other routes, OPTIONS preflights, any query string) takes the
normal path unchanged (an id found absent here is marked on the request, so the handler
answers its 404 without reading it again).

Metrics stay cheap: hits and reads are counted in plain integers, exported as the counters
``xbtcpay_status_fast_hits_total`` and ``xbtcpay_status_fast_reads_total`` when /metrics is
scraped, instead of a latency observation per request.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from multidict import CIMultiDict
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.errors import RpcError
from xbtcpay.web.keys import STATUS_ABSENT
from xbtcpay.web.public import CORS_FIXED
from xbtcpay.web.status_cache import StatusCache

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
Read = Callable[[str], Awaitable[bytes | None]]
_PATH = re.compile(r"^/([A-Za-z0-9_-]{8,64})/status\.json\Z")


class FastStatus(Collector):
    """Wraps the public port's request handler; also a Prometheus collector of its hits."""

    def __init__(
        self,
        cache: StatusCache,
        head: ChainHead,
        origins: tuple[str, ...],
        inner: Handler,
        read: Read | None = None,
    ) -> None:
        self.cache = cache
        self.head = head
        self.inner = inner
        self.read = read
        self.hits = 0
        self.reads = 0
        self._allow_all = "*" in origins
        self._origins = frozenset(origins)
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **CORS_FIXED}
        if self._allow_all:
            headers["Access-Control-Allow-Origin"] = "*"
        self._headers = tuple(headers.items())
        prefix = secrets.token_hex(4)
        self._ids = (f"{prefix}f{n:x}" for n in itertools.count(1))

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method == "GET":
            match = _PATH.match(request.raw_path)
            if match is not None:
                payment_id = match.group(1)
                body = self.cache.get(payment_id, self.head.mark)
                if body is not None:
                    self.hits += 1
                    return self._answer(request, body)
                if self.read is not None:
                    try:
                        body = await self.read(payment_id)
                    except RpcError:  # the database is out: the full stack answers that
                        return await self.inner(request)
                    if body is not None:
                        self.reads += 1
                        return self._answer(request, body)
                    # no such payment: the full stack answers the 404 without reading again
                    request[STATUS_ABSENT] = payment_id
        return await self.inner(request)

    def _answer(self, request: web.BaseRequest, body: bytes) -> web.Response:
        headers = CIMultiDict(self._headers)
        origin = request.headers.get("Origin")
        if not self._allow_all and origin and origin in self._origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        headers["X-Request-Id"] = request.headers.get("X-Request-Id", "")[:64] or next(self._ids)
        return web.Response(body=body, headers=headers)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "xbtcpay_status_fast_hits", "status.json answers served from the cache before routing"
        )
        family.add_metric([], self.hits)
        yield family
        reads = CounterMetricFamily(
            "xbtcpay_status_fast_reads",
            "status.json answers read from the database on the fast path (cache misses)",
        )
        reads.add_metric([], self.reads)
        yield reads


def install(
    runner: web.AppRunner,
    cache: StatusCache,
    head: ChainHead,
    origins: tuple[str, ...],
    metrics: CollectorRegistry,
    read: Read | None = None,
) -> FastStatus:
    """Put the fast path in front of ``runner``'s (set-up) server (``read``: how it answers
    a miss); count its hits and reads in ``metrics``."""
    server = runner.server
    assert server is not None, "install after runner.setup()"
    fast = FastStatus(cache, head, origins, server.request_handler, read)
    server.request_handler = fast
    metrics.register(fast)
    return fast
