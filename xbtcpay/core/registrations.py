"""What plugins and services ask the daemon to run or expose besides their methods.

Methods go straight into the ``MethodRegistry``; public routes, leader jobs and the
listeners of plugin subscription events are collected here and picked up by the root when
it builds the applications and starts the leader's jobs. It lives in the core so that a
service (funds, commerce) can register without importing the root.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from xbtcpay.plugin_api import JobFunction, RouteHandler

# (provider, subscription_ref, kind, event_id, amount_minor, currency, reference) -> changed
SubscriptionListener = Callable[
    [str, str, str, str, int | None, str | None, str | None], Awaitable[bool]
]


@dataclass
class Registrations:
    """What plugins and services asked the core to expose."""

    routes: list[tuple[str, str, RouteHandler]] = field(default_factory=list)
    jobs: list[tuple[str, JobFunction, float]] = field(default_factory=list)
    # who hears PluginContext.subscription_event (the subscriptions of xbtcpay.commerce)
    subscription_listeners: list[SubscriptionListener] = field(default_factory=list)
