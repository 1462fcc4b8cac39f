"""The Google Play Developer API (androidpublisher v3) through Google's own client.

``googleapiclient`` and ``google-auth`` are synchronous (httplib2), so every call runs in a
worker thread with that thread's own ``httplib2.Http`` (they are not thread-safe; each keeps
its connection alive), all sharing one set of service-account credentials. ``api_base_url``
replaces Google's endpoint (tests point it at a local fake). Answers Google uses to say "no
such purchase" become ``Refused``; everything else that goes wrong (auth, 5xx, network) is
a ``ProviderError`` the caller may retry.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import google_auth_httplib2
import httplib2
import structlog
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from xbtcpay.plugin_api import ProviderError
from xbtcpay_googleplay.purchase import Refused
from xbtcpay_googleplay.settings import GooglePlaySettings

log = structlog.get_logger("xbtcpay.plugins.googleplay")
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
NOT_FOUND = {
    400: "purchase token not valid for this product",
    404: "purchase token not known to Google Play for this app",
    410: "purchase is no longer available (expired long ago)",
}


class PlayApi:
    """Async wrapper over the calls the plugin makes."""

    def __init__(self, settings: GooglePlaySettings) -> None:
        self.package = settings.package_name
        self.timeout = settings.timeout
        self._local = threading.local()  # one Http per worker thread, kept alive
        self.credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            settings.service_account, scopes=[SCOPE]
        )
        self.service = build(
            "androidpublisher",
            "v3",
            http=self._http(),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": settings.api_base_url},
        )

    async def product(self, product_id: str, token: str) -> Any:
        """purchases.products.get: a ProductPurchase."""
        return await self._call(
            lambda: (
                self.service.purchases()
                .products()
                .get(packageName=self.package, productId=product_id, token=token)
            )
        )

    async def acknowledge_product(self, product_id: str, token: str) -> None:
        """purchases.products.acknowledge (Google refunds unacknowledged purchases)."""
        await self._call(
            lambda: (
                self.service.purchases()
                .products()
                .acknowledge(packageName=self.package, productId=product_id, token=token, body={})
            )
        )

    async def subscription(self, token: str) -> Any:
        """purchases.subscriptionsv2.get: a SubscriptionPurchaseV2."""
        return await self._call(
            lambda: (
                self.service.purchases()
                .subscriptionsv2()
                .get(packageName=self.package, token=token)
            )
        )

    async def acknowledge_subscription(self, product_id: str, token: str) -> None:
        """purchases.subscriptions.acknowledge."""
        await self._call(
            lambda: (
                self.service.purchases()
                .subscriptions()
                .acknowledge(
                    packageName=self.package, subscriptionId=product_id, token=token, body={}
                )
            )
        )

    async def voided(self, start_ms: int, page_token: str | None) -> Any:
        """voidedpurchases.list, products and subscriptions, one page."""
        return await self._call(
            lambda: (
                self.service.purchases()
                .voidedpurchases()
                .list(
                    packageName=self.package,
                    startTime=start_ms,
                    type=1,
                    maxResults=1000,
                    token=page_token,
                )
            )
        )

    async def _call(self, make: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(self._execute, make)

    def _execute(self, make: Callable[[], Any]) -> Any:
        try:
            return make().execute(http=self._thread_http(), num_retries=0)
        except HttpError as exc:
            status = exc.status_code
            if status in NOT_FOUND:
                raise Refused(NOT_FOUND[status]) from exc
            log.warning("googleplay.api_error", status=status)
            raise ProviderError(f"Google Play answered HTTP {status}") from exc
        except (GoogleAuthError, httplib2.HttpLib2Error, OSError, ValueError) as exc:
            log.warning("googleplay.api_unavailable", error=type(exc).__name__)
            raise ProviderError("Google Play Developer API unavailable") from exc

    def _thread_http(self) -> google_auth_httplib2.AuthorizedHttp:
        http: google_auth_httplib2.AuthorizedHttp | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = self._http()
        return http

    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        return google_auth_httplib2.AuthorizedHttp(
            self.credentials, http=httplib2.Http(timeout=self.timeout, proxy_info=None)
        )
