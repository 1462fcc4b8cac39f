"""Raw JSON-RPC 2.0 client for Ethereum nodes, with failover, batching and call counting.

Errors (all ``xbtcpay.core.errors.ChainError``)::

    ChainError
    ├── NodeError            the node answered with a JSON-RPC error object (code, message)
    │   └── RangeTooLarge    eth_getLogs refused a range: halve it and ask again
    ├── BlockNotFound        a block the caller asked for by number is not known (yet)
    └── Unavailable          no url gave a usable answer within ``max_attempts`` requests

Transport failures (connection errors, timeouts, HTTP 5xx, HTTP 429, malformed or truncated
JSON, answers that do not match the request) never reach the caller directly: the client moves
to the next url, backs off with jitter once every url failed in a row, and raises
``Unavailable`` only when it runs out of attempts.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
import structlog

from xbtcpay.core.errors import ChainError

log = structlog.get_logger("xbtcpay.chain.client")

BALANCE_OF = "0x70a08231"  # balanceOf(address)
_RANGE_HINTS = (
    "query returned more than",
    "block range",
    "limit exceeded",
    "too many",
    "range too large",
    "response size",
)
_MAX_RETRY_AFTER = 3600.0


class NodeError(ChainError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"node error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data


class RangeTooLarge(NodeError):
    """eth_getLogs refused the block range or result size; ask again with a smaller range."""


class BlockNotFound(ChainError):
    """The node does not know the block (it may lag behind the others)."""

    def __init__(self, block: int | str) -> None:
        super().__init__(f"block {block} not found")
        self.block = block


class Unavailable(ChainError):
    """No url gave a usable answer."""


class _TransportFailure(Exception):
    """One request failed in a way that another url (or a later try) may not."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def node_error(method: str, error: Any) -> NodeError:
    """Build the right NodeError subclass from a JSON-RPC error object."""
    if not isinstance(error, dict):
        return NodeError(-32603, repr(error)[:200])
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) else -32603
    message = str(error.get("message", ""))
    lowered = message.lower()
    if method == "eth_getLogs" and (code == -32005 or any(h in lowered for h in _RANGE_HINTS)):
        return RangeTooLarge(code, message, error.get("data"))
    return NodeError(code, message, error.get("data"))


def block_param(block: int | str) -> str:
    """A block number or tag as the node wants it ("0x1f", "latest", "finalized", "safe")."""
    if isinstance(block, bool):
        raise TypeError("block must be an int or a tag")
    return hex(block) if isinstance(block, int) else block


def redact(url: str) -> str:
    """scheme://host:port only: provider urls often carry an API key in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def parse_retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, _MAX_RETRY_AFTER))


def _to_int(value: Any) -> Any:
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else value


class ChainClient:
    """JSON-RPC client over one or more node urls (http(s) for calls, ws(s) for new heads).

    Sticks to the current url while it answers; on a transport failure moves to the next one.
    ``calls`` counts every HTTP request by method name (a batch once, as ``batch:<method>``).
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 10,
        session: aiohttp.ClientSession | None = None,
        max_attempts: int | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.http_urls = [u for u in urls if urlsplit(u).scheme in ("http", "https")]
        self.ws_urls = [u for u in urls if urlsplit(u).scheme in ("ws", "wss")]
        if not self.http_urls:
            raise ValueError("ChainClient needs at least one http(s):// url for calls")
        self.timeout = timeout
        self.max_attempts = max_attempts or 3 * len(self.http_urls)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.calls: collections.Counter[str] = collections.Counter()
        self._session = session
        self._own_session = session is None
        self._current = 0
        self._cooldown: dict[str, float] = {}  # url -> loop time before which it is not used
        self.avoid: frozenset[str] = frozenset()  # stale urls: used only when all others are
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def calls_total(self) -> int:
        """Every HTTP request made so far (retries included)."""
        return sum(self.calls.values())

    @property
    def url(self) -> str:
        """The url the next call goes to."""
        return self.http_urls[self._current]

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None if self._own_session else self._session

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._own_session:
                raise ChainError("the aiohttp session given to ChainClient is closed")
            self._session = aiohttp.ClientSession()
        return self._session

    # -- transport -------------------------------------------------------------------------

    async def _pick_url(self) -> str:
        """The current url, or the next one not cooling down after a 429."""
        loop = asyncio.get_running_loop()
        n = len(self.http_urls)
        for avoiding in (True, False) if self.avoid else (False,):
            for step in range(n):
                url = self.http_urls[(self._current + step) % n]
                if avoiding and url in self.avoid:
                    continue
                if self._cooldown.get(url, 0.0) <= loop.time():
                    self._current = (self._current + step) % n
                    return url
        index, url = min(enumerate(self.http_urls), key=lambda iu: self._cooldown[iu[1]])
        wait = self._cooldown[url] - loop.time()
        if wait > self.backoff_cap:
            raise Unavailable(f"every url is rate limited for {wait:.0f}s more")
        await asyncio.sleep(wait)
        self._current = index
        return url

    async def _post(self, payload: Any, label: str, valid: Callable[[Any], bool]) -> Any:
        """Send one HTTP request (single call or batch) with failover; return parsed JSON.

        An answer that ``valid`` rejects (wrong ids, truncated batch) counts as a failure.
        """
        failures = 0
        last = "no attempt"
        while failures < self.max_attempts:
            url = await self._pick_url()
            self.calls[label] += 1
            try:
                body = await self._send(url, payload)
                if not valid(body):
                    raise _TransportFailure("answer does not match the request")
                return body
            except _TransportFailure as exc:
                last = exc.reason
                failures += 1
                await self._after_failure(url, exc, failures, label)
        raise Unavailable(f"no node answered {label} after {failures} attempts ({last})")

    async def _after_failure(
        self, url: str, exc: _TransportFailure, failures: int, label: str
    ) -> None:
        loop = asyncio.get_running_loop()
        log.warning(
            "chain.rpc_failed", url=redact(url), method=label, reason=exc.reason, failures=failures
        )
        if exc.retry_after is not None:
            self._cooldown[url] = loop.time() + exc.retry_after
        self._current = (self._current + 1) % len(self.http_urls)
        if failures % len(self.http_urls) == 0 and failures < self.max_attempts:
            rounds = failures // len(self.http_urls)
            delay = min(self.backoff_cap, self.backoff_base * 2 ** (rounds - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _send(self, url: str, payload: Any) -> Any:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self._http().post(url, json=payload, timeout=timeout) as resp:
                if resp.status == 429:
                    raise _TransportFailure(
                        "http 429", parse_retry_after(resp.headers.get("Retry-After"))
                    )
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _TransportFailure(f"{type(exc).__name__}: {exc}"[:200]) from None
        if status >= 500:
            raise _TransportFailure(f"http {status}")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _TransportFailure(f"http {status}, malformed JSON ({len(raw)} bytes)") from None
        if status != 200 and not _looks_like_rpc(body):
            raise _TransportFailure(f"http {status}")
        return body

    # -- JSON-RPC ------------------------------------------------------------------------------

    def _request(self, method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        """One JSON-RPC call; returns ``result`` or raises NodeError / Unavailable."""
        request = self._request(method, params or [])
        body = await self._post(request, method, lambda b: _answers(request["id"], b))
        if body.get("error") is not None:
            raise node_error(method, body["error"])
        return body["result"]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Many calls in one HTTP request; results in order. The first item error is raised."""
        if not calls:
            return []
        requests = [self._request(method, params) for method, params in calls]
        ids = {r["id"] for r in requests}
        body = await self._post(requests, "batch:" + calls[0][0], lambda b: _answers_batch(ids, b))
        if isinstance(body, dict):
            raise node_error(calls[0][0], body["error"])  # the node refused the whole batch
        by_id = {item["id"]: item for item in body if isinstance(item, dict) and "id" in item}
        return [_result(r["method"], by_id[r["id"]]) for r in requests]

    # -- typed helpers ---------------------------------------------------------------------

    async def head_of(self, url: str) -> int | None:
        """``eth_blockNumber`` of one url, asked once (no failover): None if it did not answer
        (node health compares the urls' heads)."""
        request = self._request("eth_blockNumber", [])
        self.calls["eth_blockNumber"] += 1
        try:
            body = await self._send(url, request)
        except _TransportFailure:
            return None
        if not _answers(request["id"], body) or body.get("error") is not None:
            return None
        try:
            return int(body["result"], 16)
        except (TypeError, ValueError):
            return None

    async def chain_id(self) -> int:
        """The node's chain id."""
        return int(await self.call("eth_chainId"), 16)

    async def block_number(self) -> int:
        """The latest block number."""
        return int(await self.call("eth_blockNumber"), 16)

    async def get_block(self, block: int | str, full: bool = False) -> dict[str, Any] | None:
        """A block by number, tag ("latest", "safe", "finalized") or 0x-hash; None if unknown.

        The dict is the node's own, except that "number" and "timestamp" are ints.
        """
        if isinstance(block, str) and block.startswith("0x") and len(block) == 66:
            raw = await self.call("eth_getBlockByHash", [block, full])
        else:
            raw = await self.call("eth_getBlockByNumber", [block_param(block), full])
        return _block(raw)

    async def get_blocks(self, numbers: list[int], full: bool = False) -> list[dict[str, Any]]:
        """Blocks by number in one batch request; BlockNotFound if the node lacks any."""
        raws = await self.batch([("eth_getBlockByNumber", [hex(n), full]) for n in numbers])
        blocks = []
        for number, raw in zip(numbers, raws, strict=True):
            block = _block(raw)
            if block is None:
                raise BlockNotFound(number)
            blocks.append(block)
        return blocks

    async def get_logs(
        self, from_block: int, to_block: int, addresses: list[str], topics: list[Any]
    ) -> list[dict[str, Any]]:
        """eth_getLogs over [from_block, to_block]; blockNumber/logIndex/transactionIndex as ints.

        Raises RangeTooLarge when the node caps the range or result size.
        """
        query = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": addresses,
            "topics": topics,
        }
        logs = await self.call("eth_getLogs", [query])
        for entry in logs:
            for key in ("blockNumber", "logIndex", "transactionIndex"):
                if key in entry:
                    entry[key] = _to_int(entry[key])
        return list(logs)

    async def eth_balances(self, addresses: list[str], block: int | str) -> dict[str, int]:
        """Wei balances of many addresses at one block, in one batch request."""
        tag = block_param(block)
        results = await self.batch([("eth_getBalance", [a, tag]) for a in addresses])
        return {a: int(r, 16) for a, r in zip(addresses, results, strict=True)}

    async def erc20_balances(
        self, token: str, addresses: list[str], block: int | str
    ) -> dict[str, int]:
        """Token balances (base units) of many addresses at one block, in one batch request."""
        tag = block_param(block)
        calls = [
            ("eth_call", [{"to": token, "data": BALANCE_OF + a[2:].lower().rjust(64, "0")}, tag])
            for a in addresses
        ]
        results = await self.batch(calls)
        balances = {}
        for address, result in zip(addresses, results, strict=True):
            if not isinstance(result, str) or len(result) < 3:
                raise ChainError(f"balanceOf on {token} returned no data (not a token?)")
            balances[address] = int(result, 16)
        return balances

    async def new_heads(self, ws_url: str | None = None) -> AsyncIterator[int]:
        """Block numbers of new heads from an eth_subscribe("newHeads") websocket.

        A hint only (nodes drop messages and never announce reorgs reliably): callers still
        poll. The iterator ends when the socket closes; reconnecting is the caller's choice.
        """
        url = ws_url or (self.ws_urls[0] if self.ws_urls else None)
        if url is None:
            raise ChainError("new_heads needs a ws:// or wss:// url")
        try:
            async with self._http().ws_connect(url, heartbeat=30) as ws:
                request = self._request("eth_subscribe", ["newHeads"])
                await ws.send_json(request)
                subscription: str | None = None
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    data = json.loads(message.data)
                    if data.get("id") == request["id"]:
                        if data.get("error"):
                            raise node_error("eth_subscribe", data["error"])
                        subscription = data.get("result")
                        continue
                    params = data.get("params") or {}
                    if subscription and params.get("subscription") == subscription:
                        yield int(params["result"]["number"], 16)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise ChainError(f"new_heads on {redact(url)} failed: {type(exc).__name__}") from None


def _looks_like_rpc(body: Any) -> bool:
    if isinstance(body, list):
        return bool(body) and all(isinstance(i, dict) and "jsonrpc" in i for i in body)
    return isinstance(body, dict) and ("result" in body or "error" in body)


def _answers(request_id: int, body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    if body.get("id") is None:  # the node could not even read the request
        return isinstance(body.get("error"), dict)
    return body.get("id") == request_id and (body.get("error") is not None or "result" in body)


def _answers_batch(ids: set[int], body: Any) -> bool:
    if isinstance(body, dict):
        return isinstance(body.get("error"), dict) and body.get("id") is None
    if not isinstance(body, list):
        return False
    return ids <= {item.get("id") for item in body if isinstance(item, dict)}


def _result(method: str, item: dict[str, Any]) -> Any:
    if item.get("error") is not None:
        raise node_error(method, item["error"])
    if "result" not in item:
        raise NodeError(-32603, f"{method}: answer without result")
    return item["result"]


def _block(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    block = dict(raw)
    for key in ("number", "timestamp"):
        if key in block:
            block[key] = _to_int(block[key])
    return block
