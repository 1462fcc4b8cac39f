"""The plugin SDK: everything of xbtcpay a payment plugin imports, and nothing else.

A plugin imports only ``xbtcpay.plugin_api``; the core's modules behind these names may move
or change, this list is what stays. What it offers:

- the interface (``interface``): ``Plugin``, ``PluginContext``, ``CallContext``,
  ``CheckoutLink``, ``MethodHandler``, ``RouteHandler``, ``JobFunction``,
  ``PLUGIN_API_VERSION``, ``ENTRY_POINT_GROUP``;
- payments and their events: ``NewPayment``, ``Payment``, ``PaymentEvent``, ``ApplyResult``,
  ``Event``, ``State``, ``OPEN_STATES``;
- the errors a plugin raises: ``PluginError`` (stops start-up), ``InvalidParams``,
  ``Conflict`` and ``ProviderError`` (answered to the caller);
- the rules and parsers the core applies to everyone: ``shortfall`` (does a provider's
  charge pay a payment), ``parse_money``, ``from_base_units``, ``data_text``,
  ``postback_url``, ``valid_postback_url``;
- a plugin's own config section (``settings``): ``refuse_unknown_keys`` and
  ``unknown_keys``, so a misspelled ``plugins.<name>.*`` key stops start-up;
- the charging interface for merchant-initiated purchases (``charging``): ``Charger``,
  ``ChargeRequest``, ``ChargeResult``, ``Outcome``, ``SourceKind``;
- store purchases recorded once per provider reference (``store_purchases``):
  ``StoreLedger`` (subclassed by a store plugin), ``StorePurchase``, ``Origin``, ``Due``,
  ``Recorded``, ``epoch_seconds``.
"""

from __future__ import annotations

from xbtcpay.core.amounts import from_base_units, parse_money
from xbtcpay.core.errors import Conflict, InvalidParams, PluginError, ProviderError
from xbtcpay.core.models import ApplyResult, NewPayment, Payment, PaymentEvent
from xbtcpay.core.params import data_text, postback_url
from xbtcpay.core.postback import valid_postback_url
from xbtcpay.core.price_rule import shortfall
from xbtcpay.core.state import OPEN_STATES, Event, State
from xbtcpay.plugin_api.charging import Charger, ChargeRequest, ChargeResult, Outcome, SourceKind
from xbtcpay.plugin_api.interface import (
    ENTRY_POINT_GROUP,
    PLUGIN_API_VERSION,
    CallContext,
    CheckoutLink,
    JobFunction,
    MethodHandler,
    Plugin,
    PluginContext,
    RouteHandler,
)
from xbtcpay.plugin_api.settings import refuse_unknown_keys, unknown_keys
from xbtcpay.plugin_api.store_purchases import (
    Due,
    Origin,
    Recorded,
    StoreLedger,
    StorePurchase,
    epoch_seconds,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "OPEN_STATES",
    "PLUGIN_API_VERSION",
    "ApplyResult",
    "CallContext",
    "ChargeRequest",
    "ChargeResult",
    "Charger",
    "CheckoutLink",
    "Conflict",
    "Due",
    "Event",
    "InvalidParams",
    "JobFunction",
    "MethodHandler",
    "NewPayment",
    "Origin",
    "Outcome",
    "Payment",
    "PaymentEvent",
    "Plugin",
    "PluginContext",
    "PluginError",
    "ProviderError",
    "Recorded",
    "RouteHandler",
    "SourceKind",
    "State",
    "StoreLedger",
    "StorePurchase",
    "data_text",
    "epoch_seconds",
    "from_base_units",
    "parse_money",
    "postback_url",
    "refuse_unknown_keys",
    "shortfall",
    "unknown_keys",
    "valid_postback_url",
]
