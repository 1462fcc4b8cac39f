"""A Stripe Checkout payment's page sends the payer to the session's hosted page."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.stripe_server import FakeStripe
from tests.harness import running_daemon
from tests.plugins.test_stripe import checkout, fake, overrides

__all__ = ["fake"]


async def test_open_stripe_payment_redirects_to_its_session(
    tmp_path: Path, fake: FakeStripe
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        created = await checkout(d)
        url = f"{d.public_url}/pay/{created['id']}"
        async with d.session.get(url, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == created["url"]
            assert resp.headers["Cache-Control"] == "no-store"
        fake.expire(created["sessionId"])
        async with d.session.get(url, allow_redirects=False) as resp:
            body = await resp.text()
            assert resp.status == 200 and "Waiting for Stripe to confirm the payment" in body
            assert "Pay 9.99 USD" in body and "<svg" not in body


async def test_stripe_unreachable_shows_the_status_instead(
    tmp_path: Path, fake: FakeStripe
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        created = await checkout(d)
        await fake.stop()
        async with d.session.get(
            f"{d.public_url}/pay/{created['id']}", allow_redirects=False
        ) as resp:
            assert resp.status == 200
            assert "Waiting for Stripe to confirm the payment" in await resp.text()
