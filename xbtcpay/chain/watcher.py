"""The chain watcher: finds deposits to issued addresses and drives payments from them.

One poll (every ``chain.poll_interval``, or at once on a websocket newHeads hint):

1. scan ``(cursor, head]`` in ranges: one header batch, one ``eth_getLogs`` for every token
   contract (Transfer topic, no recipient filter), full blocks only when an ETH asset is
   configured; check the ranges chain onto the stored tip and every log's block hash;
   commit headers + deposits + cursor in one transaction (``ChainStore.checkpoint``).
   Ranges deeper than ``chain.reorg_window`` below the head (catching up) are final: only
   their logs and the header of their last block (the tip the next range chains onto) are
   fetched, no per-header walk;
2. on a broken parent-hash chain, walk back to the common ancestor and roll back above it;
3. every ``chain.reconcile_interval`` seconds, reconcile balances of open payments;
4. recompute every payment whose deposits changed or that awaits confirmations, applying
   the events ``settlement.next_event`` asks for through the processor; payments are
   settled side by side, so the database's group commit writes their events in a few
   transactions rather than one per event.

Steps 3 and 4 run once per poll, after the scan reached the head. A poll that started more
than ``chain.reorg_window`` blocks behind leaves reconciliation to the next poll: catching
up is not held up by balance reads that would be repeated at the head anyway.

RPC calls per new block do not depend on the number of open payments: addresses are matched
in memory. Errors back off exponentially; ``CancelledError`` propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog
from prometheus_client import Counter

from xbtcpay.chain.client import ChainClient, RangeTooLarge, redact
from xbtcpay.chain.deposits import (
    TRANSFER_TOPIC,
    AddressBook,
    Deposit,
    ether_deposits,
    stray_deposits,
    transfer_deposits,
)
from xbtcpay.chain.health import NodeHealth
from xbtcpay.chain.reconcile import balances_at, surpluses
from xbtcpay.chain.reorg import (
    Header,
    ReorgDetected,
    check_logs,
    check_range,
    common_ancestor,
)
from xbtcpay.chain.settings import WatcherSettings
from xbtcpay.chain.settlement import Rules, Threshold, next_event, ordered
from xbtcpay.core.errors import ChainError
from xbtcpay.core.handlers import PaymentDriver
from xbtcpay.core.invoices import (
    invoice_of,
    is_picked,
    option_amount,
    option_of,
    picked_extra,
    tolerance_of,
)
from xbtcpay.core.models import Payment
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.core.state import Event, State
from xbtcpay.core.tasks import progressed
from xbtcpay.storage.chain_store import ChainStore

log = structlog.get_logger("xbtcpay.chain.watcher")

LATEST_MARGIN = 2  # "start_block: latest" starts this many blocks below the head
FULL_BLOCK_RANGE = 100  # at most this many full blocks per request when ETH is watched
MAX_EVENTS_PER_PAYMENT = 4
SETTLE_CONCURRENCY = 64  # payments settled side by side (their writes share commits)
MAX_BACKOFF = 30.0
# open payments reconciled at a time: balances and totals of 100,000 payments at once cost
# tens of MB per chain, held by the allocator after the pass
RECONCILE_SLICE = 5000


def http_urls(urls: tuple[str, ...]) -> list[str]:
    """The configured urls, plus http(s) twins of ws(s) urls when no http url is given."""
    if any(u.startswith(("http://", "https://")) for u in urls):
        return list(urls)
    return [*urls, *(u.replace("ws", "http", 1) for u in urls)]


class Watcher:
    """Watches the chain for one daemon: scans blocks into ``store``, drives payments through
    ``processor``, announces each scanned head through ``on_head`` and counts node calls in
    ``rpc_calls``."""

    def __init__(
        self,
        config: WatcherSettings,
        processor: PaymentDriver,
        store: ChainStore,
        client: ChainClient,
        on_head: Callable[[int], None],
        rpc_calls: Counter,
        health: NodeHealth | None = None,
        on_health: Callable[[NodeHealth], None] = lambda h: None,
        book: AddressBook | None = None,
    ) -> None:
        self.config = config
        self.processor = processor
        self.chain = config.chain
        self.log = log.bind(chain=config.chain.key)
        self.client = client
        self.store = store
        self.on_head = on_head
        self.rpc_calls = rpc_calls
        # every issued address, whatever its chain: one book shared by a daemon's watchers
        self.book = book if book is not None else AddressBook()
        self.contracts = {
            a.contract.lower(): a.name
            for a in config.assets.values()
            if a.contract and not a.native
        }
        self.natives = frozenset(a.name for a in config.assets.values() if a.native)
        self.range = config.chain.max_block_range
        self.cursor: int | None = None
        self.polls = 0
        self._wake = asyncio.Event()
        self._last_reconcile: float | None = None
        self._reported_calls: dict[str, int] = {}
        self.health = health
        self.on_health = on_health
        self.stale = False
        self._seen_head: int | None = None

    # -- loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll forever; ChainErrors back off, CancelledError propagates."""
        hints = [
            asyncio.create_task(self._follow_heads(url), name="watcher-heads")
            for url in self.client.ws_urls
        ]
        failures = 0
        try:
            await self.check_health()  # a url far behind the others is skipped from the start
            while True:
                delay = self.chain.poll_interval
                before = self.cursor
                try:
                    await self.poll()
                    failures = 0
                    progressed()  # a later crash backs off from the start again
                    await self.check_health()
                except ChainError as exc:
                    await self.check_health()
                    # a catch-up that committed ranges before failing is not an outage: the
                    # next poll goes on from there soon, instead of backing off further
                    moved = before is not None and self.cursor is not None and self.cursor > before
                    failures = 1 if moved else failures + 1
                    delay = min(MAX_BACKOFF, self.chain.poll_interval * 2**failures)
                    delay *= random.uniform(0.8, 1.2)
                    self.log.warning(
                        "chain.poll_failed",
                        error=str(exc)[:300],
                        retry_in=round(delay, 2),
                        failures=failures,
                    )
                await self._sleep(delay)
        finally:
            for task in hints:
                task.cancel()
            await asyncio.gather(*hints, return_exceptions=True)

    async def _sleep(self, delay: float) -> None:
        try:
            async with asyncio.timeout(delay):  # not wait_for: it can swallow a cancel on 3.11
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def _follow_heads(self, url: str) -> None:
        """newHeads from a websocket url wake the poll loop (a hint: polling still decides)."""
        failures = 0
        while True:
            try:
                async for number in self.client.new_heads(url):
                    failures = 0
                    self.log.debug("chain.new_head_hint", block=number)
                    self._wake.set()
            except ChainError as exc:
                self.log.warning("chain.new_heads_failed", error=str(exc)[:200])
            failures += 1
            await asyncio.sleep(min(MAX_BACKOFF, 0.5 * 2**failures))

    # -- one poll ------------------------------------------------------------------------

    async def poll(self) -> None:
        """Scan to the head, reconcile when due, re-evaluate payments, publish the head."""
        head = self._seen_head = await self.client.block_number()
        if self.cursor is None:
            self.cursor = await self._initial_cursor(head)
        if head < self.cursor or not await self._tip_is_current(head):
            await self._rewind()
        behind = head - self.cursor
        start = self.cursor
        try:
            while self.cursor < head:
                head = max(head, await self._advance(head))
        except ChainError:
            if self.cursor is not None and self.cursor > start:
                await self._settle_committed()
            raise
        if self.cursor is None:
            return
        if behind <= self.chain.reorg_window:
            await self._reconcile_if_due()  # while far behind: on the next poll, at the head
        await self.evaluate()
        self.polls += 1
        self.on_head(self.cursor)
        self._report_calls()

    async def _settle_committed(self) -> None:
        """After a catch-up failed part way: settle what the committed ranges hold.

        Confirmations count from the cursor, not the node's head, so nothing is credited
        early; a long catch-up through a flaky node still pays as it goes.
        """
        with contextlib.suppress(ChainError):  # the poll's own failure is the one reported
            await self.evaluate()
            assert self.cursor is not None
            self.on_head(self.cursor)

    async def _initial_cursor(self, head: int) -> int:
        stored = await self.store.cursor()
        if stored is not None:
            self.log.info("chain.resume", cursor=stored, head=head, behind=max(0, head - stored))
            return stored
        start = self.chain.start_block
        first = max(0, head - LATEST_MARGIN) if start == "latest" else start
        below = await self.client.get_block(first - 1) if first > 0 else None
        await self.store.start_at(first - 1, None if below is None else Header.of(below))
        self.log.info("chain.first_start", start_block=first, head=head)
        return first - 1

    async def _tip_is_current(self, head: int) -> bool:
        """When nothing new is there, check the stored tip still is the node's block."""
        assert self.cursor is not None
        if head != self.cursor:
            return True
        tip = await self.store.header(self.cursor)
        if tip is None:
            return True
        block = await self.client.get_block(self.cursor)
        return block is not None and str(block["hash"]).lower() == tip.hash

    async def _advance(self, head: int) -> int:
        """Scan and commit the next range above the cursor; return the head it saw."""
        assert self.cursor is not None
        start = self.cursor + 1
        size = min(self.range, FULL_BLOCK_RANGE) if self.natives else self.range
        end = min(head, start + size - 1)
        try:
            headers, deposits = await self._scan(start, end, head)
        except RangeTooLarge:
            if end == start:
                raise  # a single block is too much: nothing smaller to ask for
            self.range = max(1, (end - start + 1) // 2)
            self.log.info("chain.range_shrunk", range=self.range)
            return head
        except ReorgDetected as exc:
            self.log.warning("chain.reorg_detected", at=start, reason=str(exc))
            await self._rewind()
            return head
        keep_from = max(0, end - self.chain.reorg_window + 1)
        added = await self.store.checkpoint(end, headers, deposits, keep_from)
        self.cursor = end
        self.range = min(self.chain.max_block_range, self.range * 2)
        if deposits:
            self.log.info(
                "chain.deposits", from_block=start, to_block=end, found=len(deposits), new=added
            )
        for stray in (d for d in deposits if d.stray):
            self.log.warning(
                "chain.stray_deposit",
                payment_id=stray.payment_id,
                asset=stray.asset,
                units=str(stray.units),
                tx_hash=stray.tx_hash,
                block=stray.block_number,
            )
        return head

    async def _scan(self, start: int, end: int, head: int) -> tuple[list[Header], list[Deposit]]:
        """Headers and deposits of [start, end], checked against the tip and each other.

        Blocks deeper than ``reorg_window`` below ``head`` are final: their headers are not
        walked (only the last such block's, as the anchor the rest chains onto), and their
        logs are taken as they are.
        """
        assert self.cursor is not None
        first = start
        if not self.natives:
            first = min(end, max(start, head - self.chain.reorg_window))
        blocks = await self.client.get_blocks(list(range(first, end + 1)), full=bool(self.natives))
        headers = [Header.of(b) for b in blocks]
        check_range(await self.store.header(self.cursor) if first == start else None, headers)
        logs: list[dict[str, Any]] = []
        if self.contracts:
            logs = await self.client.get_logs(start, end, list(self.contracts), [TRANSFER_TOPIC])
            check_logs(
                [e for e in logs if int(e["blockNumber"]) >= first],
                {h.number: h.hash for h in headers},
            )
        await self.store.load_addresses(self.book)  # after the fetch: no issued address missed
        deposits = transfer_deposits(logs, self.book, self.contracts)
        if self.natives:
            deposits += ether_deposits(blocks, self.book, self.natives)
        deposits += stray_deposits(logs, blocks, self.book, self.contracts, self.natives)
        return headers, deposits

    async def _rewind(self) -> None:
        """Roll back to the highest stored block the node still has (reorg or node reset)."""
        window = await self.store.window()
        head = await self.client.block_number()
        numbers = [h.number for h in window if h.number <= head]
        blocks = await self.client.get_blocks(numbers) if numbers else []
        ancestor = common_ancestor(window, {h.number: h.hash for h in map(Header.of, blocks)})
        if ancestor is None:
            ancestor = min(head, window[0].number - 1) if window else head
            self.log.critical("chain.reorg_beyond_window", window=len(window), rewound_to=ancestor)
        rolled = await self.store.rollback(ancestor)
        self.log.warning(
            "chain.reorg",
            ancestor=ancestor,
            depth=(self.cursor or ancestor) - ancestor,
            deposits_removed=rolled.deposits_removed,
            payments=len(rolled.payments),
        )
        self.cursor = ancestor

    # -- node health ---------------------------------------------------------------------

    async def check_health(self) -> None:
        """Compare the urls' heads (one ``eth_blockNumber`` each when there are several),
        skip stale urls, and log once on entering and on leaving the all-stale state."""
        health = self.health
        if health is None:
            return
        urls = self.client.http_urls
        if len(urls) > 1:
            heads = await asyncio.gather(*(self.client.head_of(u) for u in urls))
            for url, number in zip(urls, heads, strict=True):
                if number is not None:
                    health.observe(url, number)
        elif self._seen_head is not None:
            health.observe(urls[0], self._seen_head)
        self._seen_head = None
        health.evaluate()
        skipped = frozenset(health.stale_urls)
        if skipped != self.client.avoid:
            self.log.warning("chain.rpc_stale", urls=[redact(u) for u in sorted(skipped)])
            self.client.avoid = skipped
        if health.all_stale != self.stale:
            self.stale = health.all_stale
            if self.stale:
                self.log.warning("chain.stale", head_age=health.head_age(), urls=len(urls))
            else:
                self.log.info("chain.fresh", head=self.cursor)
        self.on_health(health)

    # -- reconciliation ------------------------------------------------------------------

    async def _reconcile_if_due(self) -> None:
        loop = asyncio.get_running_loop()
        if (
            self._last_reconcile is not None
            and loop.time() - self._last_reconcile < self.chain.reconcile_interval
        ):
            return
        await self.reconcile()
        self._last_reconcile = loop.time()

    async def reconcile(self) -> int:
        """Record balance surpluses of open payments at a confirmed block; return how many."""
        assert self.cursor is not None
        now = self.processor.now()
        late = self.config.payments.late_window
        found: list[Deposit] = []
        for asset in self.config.assets.values():
            part = await self.store.watched(asset.name, now, late, "", RECONCILE_SLICE)
            if not part:
                continue
            number = await self._confirmed_block(asset.name)
            header = None if number is None else await self.store.header(number)
            if header is None:
                continue  # still catching up, or nothing confirmed yet
            while part:  # a page of open payments at a time: bounded memory per chain
                balances = await balances_at(self.client, asset, [a for _, a in part], header.hash)
                recorded = await self.store.totals_up_to([pid for pid, _ in part], header.number)
                found += surpluses(asset.name, part, balances, recorded, header.number, header.hash)
                after = part[-1][0]
                part = await self.store.watched(asset.name, now, late, after, RECONCILE_SLICE)
        if found:
            added = await self.store.add_deposits(found)
            self.log.info("chain.reconciled", deposits=len(found), new=added)
        return len(found)

    async def _confirmed_block(self, asset: str) -> int | None:
        assert self.cursor is not None
        threshold = await self._threshold(asset)
        if threshold.confirmations is None:
            return None if threshold.finalized is None else min(threshold.finalized, self.cursor)
        return self.cursor - threshold.confirmations + 1

    # -- payments ------------------------------------------------------------------------

    async def _threshold(self, asset: str) -> Threshold:
        assert self.cursor is not None
        wanted = self.config.confirmations_for(asset)
        if wanted == "finalized" or wanted == "safe":  # the node's block of that tag
            block = await self.client.get_block(wanted)
            return Threshold(self.cursor, None, None if block is None else int(block["number"]))
        return Threshold(self.cursor, int(wanted))

    async def evaluate(self) -> int:
        """Bring every dirty or unconfirmed payment in line with its deposits; return events."""
        now = self.processor.now()
        dirty = await self.store.dirty()
        waiting = await self.store.awaiting_confirmations(now, self.config.payments.late_window)
        thresholds: dict[str, Threshold] = {}
        gate = asyncio.Semaphore(SETTLE_CONCURRENCY)

        async def settle(payment_id: str) -> int:
            async with gate:
                return await self._settle(payment_id, thresholds, now)

        invoices = await self.store.stray_invoices()
        counts = await asyncio.gather(*map(settle, dict.fromkeys([*dirty, *waiting, *invoices])))
        await self.store.clean(dirty)
        return sum(counts)

    async def _settle(self, payment_id: str, thresholds: dict[str, Threshold], now: int) -> int:
        processor = self.processor
        payment = await processor.get(payment_id)
        applied = 0
        if invoice_of(payment) is not None:
            payment, applied = await self._choose(payment, thresholds, now)
        asset = self.config.assets.get(payment.asset)
        if asset is None:
            return applied
        if asset.name not in thresholds:
            thresholds[asset.name] = await self._threshold(asset.name)
        rules = Rules(
            asset.decimals,
            thresholds[asset.name],
            now,
            self.config.payments.late_window,
            tolerance_of(payment),
        )
        deposits = await self.store.deposits_of(payment_id)
        for _ in range(MAX_EVENTS_PER_PAYMENT):
            event = next_event(payment, deposits, rules)
            if event is None:
                break
            result = await processor.apply(payment_id, event)
            if not result.changed:
                payment = await processor.get(payment_id)
                if next_event(payment, deposits, rules) == event:
                    break  # refused for good (e.g. canceled meanwhile)
                continue
            payment, applied = result.payment, applied + 1
        return applied

    async def _choose(
        self, payment: Payment, thresholds: dict[str, Threshold], now: int
    ) -> tuple[Payment, int]:
        """An invoice priced in fiat on this chain: the first funds seen on one of its
        options choose that option (the payment becomes a payment of that asset and amount,
        at that option's rate); funds of any other asset stay stray deposits.

        The choice is the ``seen`` transition itself, with the funds moved from strays to
        deposits in its unit of work: when two chains race, the compare-and-set lets one
        win and the loser's funds stay stray. Returns the payment as it is now and the
        events applied."""
        here = self.config.assets
        if is_picked(payment) or payment.status != State.NEW:
            if payment.asset in here:  # the chosen option's funds filed stray meanwhile
                if any(s.asset == payment.asset for s in await self.store.strays_here(payment.id)):
                    await self.store.refile(payment.id, payment.asset)
            elif await self.store.deposits_of(payment.id):  # funds of an option not chosen
                await self.store.refile(payment.id, None)
            return payment, 0
        funded = [
            d
            for d in [
                *await self.store.deposits_of(payment.id),
                *await self.store.strays_here(payment.id),
            ]
            if d.asset in here and option_of(payment, d.asset) is not None
        ]
        if not funded:
            return payment, 0
        choice = ordered(funded)[0].asset
        option = option_of(payment, choice)
        assert option is not None
        amount = option_amount(option)
        spec = here[choice]
        if choice not in thresholds:
            thresholds[choice] = await self._threshold(choice)
        rules = Rules(spec.decimals, thresholds[choice], now, self.config.payments.late_window)
        chosen = replace(payment, asset=choice, amount=amount)
        seen = next_event(chosen, [d for d in funded if d.asset == choice], rules)
        if seen is None or seen.kind != Event.SEEN:
            return payment, 0
        event = replace(seen, asset=choice, amount=amount, extra=picked_extra(payment, choice, now))

        async def file(uow: UnitOfWork, updated: Payment) -> None:
            if updated.version != payment.version + 1:
                raise _Requoted  # the choice was made on terms that changed meanwhile
            await self.store.adopt(uow, payment.id, choice)

        try:
            result = await self.processor.apply(payment.id, event, also=file)
        except _Requoted:
            return await self._choose(await self.processor.get(payment.id), thresholds, now)
        if not result.changed:  # another chain's funds chose first, or it ended meanwhile
            fresh = result.payment
            if fresh.status == State.NEW and not is_picked(fresh):
                return fresh, 0
            return await self._choose(fresh, thresholds, now)
        if payment.address is not None:
            self.book.retarget(payment.address, payment.id, choice)
        self.log.info(
            "chain.invoice_option_chosen",
            payment_id=payment.id,
            asset=choice,
            amount=option["amount"],
            rate=option["rate"],
        )
        return result.payment, 1

    def _report_calls(self) -> None:
        for method, count in self.client.calls.items():
            delta = count - self._reported_calls.get(method, 0)
            if delta:
                self.rpc_calls.labels(method).inc(delta)
                self._reported_calls[method] = count


class _Requoted(Exception):
    """An invoice got a new quote between reading it and choosing its option."""
