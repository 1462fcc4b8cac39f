"""Shared fixtures. Chain fixtures (one anvil per session) live in tests/fixtures/chain.py."""

from __future__ import annotations

import pytest

from tests.harness import PostbackReceiver


@pytest.fixture
async def receiver() -> PostbackReceiver:
    async with PostbackReceiver() as r:
        yield r

pytest_plugins = ["tests.fixtures.chain"]
