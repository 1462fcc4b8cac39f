"""A daemon's final logging configuration (loggers built once) writes what the per-call one
does: the same lines, the same level filter, secrets redacted, request ids bound."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import sys
import structlog
from xbtcpay.app.logs import configure_logging
from xbtcpay.web.middlewares import _REQUEST_ID

configure_logging("info", "json", final=sys.argv[1] == "final")
log = structlog.get_logger("xbtcpay.test")
for n in range(3):
    token = _REQUEST_ID.set(f"req{n}")
    log.info("payment.created", n=n, api_key="k-secret")
    log.debug("dropped", n=n)
    _REQUEST_ID.reset(token)
structlog.contextvars.bind_contextvars(method="start_payment")
log.warning("rpc.refused", why="x")
log.bind(payment_id="p1").info("bound")
"""


def lines(mode: str) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    ).stdout
    records = [json.loads(line) for line in out.splitlines()]
    for record in records:
        assert record.pop("timestamp")
    return records


def test_final_logging_writes_the_same_lines() -> None:
    final, per_call = lines("final"), lines("per-call")
    assert final == per_call
    assert [r["event"] for r in final] == [
        "payment.created",
        "payment.created",
        "payment.created",
        "rpc.refused",
        "bound",
    ]
    assert final[0]["api_key"] == "[redacted]" and final[2]["request_id"] == "req2"
    assert final[3]["method"] == "start_payment" and final[4]["payment_id"] == "p1"
