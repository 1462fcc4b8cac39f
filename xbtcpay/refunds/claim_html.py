"""The claim page: the refund's amount and network, the address form while the link takes
one (with the warning about exchange deposit addresses), then the refund's progress.

Plain HTML with no script, every value escaped; the route sends it with headers that keep
it out of caches, referrers and search engines.
"""

from __future__ import annotations

from html import escape

from xbtcpay.refunds.claim import ClaimView
from xbtcpay.storage.refunds import APPROVED, CANCELED, CONFIRMED, FAILED, REQUESTED, SENT

STEPS = (
    (REQUESTED, "Refund requested"),
    (APPROVED, "Approved by the shop"),
    (SENT, "Sent"),
    (CONFIRMED, "Confirmed on the chain"),
)
STYLE = """
body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.5}
h1{font-size:1.4rem}.amount{font-size:1.6rem;font-weight:600}
label{display:block;font-weight:600;margin-top:1rem}
input{width:100%;box-sizing:border-box;font:1rem monospace;padding:.5rem;margin:.25rem 0}
button{font-size:1rem;padding:.5rem 1.25rem;margin-top:.5rem}
.warning{background:#fff4d6;border-left:4px solid #b07700;padding:.5rem .75rem}
.error{background:#fde2e2;border-left:4px solid #b00020;padding:.5rem .75rem}
ol{padding-left:1.25rem}li.done{font-weight:600}code{word-break:break-all}
"""


def render(view: ClaimView, error: str | None = None, entered: str = "") -> str:
    r = view.refund
    body = [
        "<h1>Your refund</h1>",
        f'<p class="amount">{escape(r.amount)} {escape(view.symbol)}</p>',
        f"<p>on the {escape(view.network)} network. Reason: {escape(r.reason)}</p>",
    ]
    if error:
        body.append(f'<p class="error" role="alert" id="error">{escape(error)}</p>')
    if view.claimable:
        body.append(_form(view, entered))
    elif view.expired:
        body.append("<p>This link has expired. Please contact the shop for a new one.</p>")
    else:
        body.append(_progress(view))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Your refund</title><style>{STYLE}</style></head><body><main>"
        + "".join(body)
        + "</main></body></html>"
    )


def _form(view: ClaimView, entered: str) -> str:
    network = escape(view.network)
    return (
        f"<p>Enter the address on the {network} network where the refund should go.</p>"
        '<p class="warning" id="exchange-warning">Use an address of a wallet you control. '
        "An exchange deposit address may not credit a refund: the exchange may not see who "
        "sent it, and the money can be lost.</p>"
        '<form method="post"><label for="address">Your address</label>'
        f'<input id="address" name="address" required autocomplete="off" spellcheck="false"'
        f' placeholder="0x..." value="{escape(entered)}" aria-describedby="address-help">'
        '<p id="address-help">The checksummed form (mixed upper and lower case letters), '
        "as your wallet shows it. The address can be entered once.</p>"
        '<button type="submit">Send my refund here</button></form>'
    )


def _progress(view: ClaimView) -> str:
    r = view.refund
    parts = [f'<p>Refund address: <code id="refund-address">{escape(r.address or "")}</code></p>']
    if r.status in (CANCELED, FAILED):
        what = (
            "canceled by the shop" if r.status == CANCELED else "not sent: the shop will follow up"
        )
        parts.append(f'<p id="refund-status">This refund was {what}.</p>')
        return "".join(parts)
    reached = [s for s, _ in STEPS].index(r.status)
    items = "".join(
        f'<li class="{"done" if i <= reached else "todo"}">{escape(label)}'
        f"{' ✓' if i <= reached else ''}</li>"
        for i, (_, label) in enumerate(STEPS)
    )
    parts.append(f'<ol id="refund-progress" data-status="{escape(r.status)}">{items}</ol>')
    if r.tx_hash and r.status in (SENT, CONFIRMED):
        parts.append(f'<p>Transaction: <code id="refund-tx">{escape(r.tx_hash)}</code></p>')
    return "".join(parts)
