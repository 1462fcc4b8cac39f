"""Typed keys for the objects shared on the aiohttp applications (no globals).

Each handler reads exactly the objects it uses under these keys; the root puts them on the
applications that serve those handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from xbtcpay.cluster.leadership import Leadership
    from xbtcpay.core.chain_head import ChainHead
    from xbtcpay.core.methods import CoreMethods
    from xbtcpay.core.metrics import Metrics
    from xbtcpay.core.persistence import Engine
    from xbtcpay.core.registry import MethodRegistry
    from xbtcpay.storage.payments import PaymentStore
    from xbtcpay.storage.postbacks import PostbackStore
    from xbtcpay.web.checkout import Checkout
    from xbtcpay.web.settings import WebSettings
    from xbtcpay.web.status_cache import StatusCache

CONFIG: web.AppKey[WebSettings] = web.AppKey("config")
REGISTRY: web.AppKey[MethodRegistry] = web.AppKey("registry")
CORE: web.AppKey[CoreMethods] = web.AppKey("core")
PORT_NAME: web.AppKey[str] = web.AppKey("port_name")
EXTRA: web.AppKey[dict[str, Any]] = web.AppKey("extra")
CLIENT_IP: web.RequestKey[str] = web.RequestKey("client_ip")
# the payment id the status.json fast path already read and found absent (read once, not twice)
STATUS_ABSENT: web.RequestKey[str] = web.RequestKey("status_absent")
CHECKOUT: web.AppKey[Checkout] = web.AppKey("checkout")
# status.json
PAYMENTS: web.AppKey[PaymentStore] = web.AppKey("payments")
STATUS_CACHE: web.AppKey[StatusCache] = web.AppKey("status_cache")
CHAIN_HEAD: web.AppKey[ChainHead] = web.AppKey("chain_head")
# /healthz and /metrics
DATABASE: web.AppKey[Engine] = web.AppKey("database")
LEADERSHIP: web.AppKey[Leadership] = web.AppKey("leadership")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
POSTBACKS: web.AppKey[PostbackStore] = web.AppKey("postbacks")
