"""Typed keys for the objects shared on the aiohttp applications (no globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from xbtcpay.app.runtime import Runtime
    from xbtcpay.core.methods import CoreMethods
    from xbtcpay.core.metrics import Metrics
    from xbtcpay.core.processor import PaymentProcessor
    from xbtcpay.core.registry import MethodRegistry
    from xbtcpay.web.checkout import Checkout
    from xbtcpay.web.settings import WebSettings

CONFIG: web.AppKey[WebSettings] = web.AppKey("config")
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
REGISTRY: web.AppKey[MethodRegistry] = web.AppKey("registry")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
PROCESSOR: web.AppKey[PaymentProcessor] = web.AppKey("processor")
CORE: web.AppKey[CoreMethods] = web.AppKey("core")
PORT_NAME: web.AppKey[str] = web.AppKey("port_name")
EXTRA: web.AppKey[dict[str, Any]] = web.AppKey("extra")
CLIENT_IP: web.RequestKey[str] = web.RequestKey("client_ip")
CHECKOUT: web.AppKey[Checkout] = web.AppKey("checkout")
