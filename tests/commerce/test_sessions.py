"""The public port with shop-issued sessions: customer-facing methods only, own data only."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.commerce.setup import SESSION_SECRET, check_ledger, commerce, ledger_rows, session
from tests.harness import running_daemon


async def public_call(
    d: Any, method: str, data: Any, token: str | None, **headers: str
) -> tuple[int, dict[str, Any]]:
    if token is not None:
        headers["X-Session-Id"] = token
    async with d.session.post(
        f"{d.public_url}/api/v0/rpc/{method}", json=data, headers=headers
    ) as resp:
        return resp.status, dict(await resp.json())


async def gift(d: Any, customer: str, amount: str = "30.00") -> None:
    reply = await d.call(
        "balance.adjust",
        {
            "customer": customer,
            "currency": "AUD",
            "amount": amount,
            "reason": "gift",
            "idempotency_key": f"gift-{customer}-1",
        },
    )
    assert "result" in reply, reply


def unsigned(customer: str) -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    claims = jwt.utils.base64url_encode(
        f'{{"sub":"{customer}","exp":{int(time.time()) + 600}}}'.encode()
    ).decode()
    return f"{header}.{claims}."


async def test_a_session_reads_and_spends_only_its_own_balance(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift(d, "alice")
        await gift(d, "mallory", "5.00")
        status, body = await public_call(d, "balance.get", {}, session("alice"))
        assert status == 200 and body["error"]["status"] is False
        assert body["data"]["customer"] == "alice"
        assert body["data"]["balances"][0]["amount"] == "30.00"
        status, body = await public_call(
            d,
            "payment.purchase",
            {
                "product": "gem_pack",
                "use_balance": True,
                "currency": "AUD",
                "purchase_token": "tok-public-001",
            },
            session("alice"),
        )
        assert status == 200 and body["data"]["PaymentResponse"] == "Success"
        status, body = await public_call(
            d, "balance.get", {"customer": "mallory"}, session("alice")
        )
        assert status == 403 and body["error"]["code"] == -32003 and body["data"] is None
        number = body_number = (await d.call("receipt.list", {"customer": "alice"}))["result"][
            "receipts"
        ][0]["number"]
        status, body = await public_call(d, "receipt.get", {"number": number}, session("mallory"))
        assert status == 404
        status, body = await public_call(
            d, "receipt.get", {"number": body_number}, session("alice")
        )
        assert status == 200 and body["data"]["customer"] == "alice"


async def test_everything_else_on_the_public_port_is_refused(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift(d, "alice")
        token = session("alice")
        for method, data in (
            (
                "balance.adjust",
                {
                    "currency": "AUD",
                    "amount": "100.00",
                    "reason": "x",
                    "idempotency_key": "steal-0001",
                },
            ),
            ("start_payment", {"amount": "1"}),
            ("list_payments", {}),
            ("no.such.method", {}),
            ("payment.processBraintreePayment", {"postback_url": "http://evil.example/"}),
            (
                "payment.purchase",
                {
                    "product": "gem_pack",
                    "use_balance": True,
                    "purchase_token": "tok-no-tax-01",
                    "tax_country": "US",
                },
            ),
        ):
            status, body = await public_call(d, method, data, token)
            assert status == 403, (method, body)
            assert body["error"]["status"] is True and body["data"] is None
        status, body = await public_call(d, "balance.get", {}, None)
        assert status == 401 and body["error"]["code"] == -32001
        assert ledger_rows(tmp_path, "SELECT COUNT(*) FROM ledger_entries") == [(1,)]
        check_ledger(tmp_path)


async def test_expired_forged_unsigned_and_wrong_network_sessions_are_refused(
    tmp_path: Path,
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with running_daemon(tmp_path, commerce()) as d:
        refused = {
            "expired": session("alice", ttl=-120),
            "forged": session("alice", secret="another-secret-of-32-bytes-or-more!!"),
            "alg none": unsigned("alice"),
            "other algorithm": jwt.encode(
                {"sub": "alice", "exp": int(time.time()) + 600}, rsa_key, algorithm="RS256"
            ),
            "no exp": jwt.encode({"sub": "alice"}, SESSION_SECRET, algorithm="HS256"),
            "bad sub": session("a b"),
            "garbage": "not-a-jwt",
            "too long-lived": session("alice", ttl=400 * 86400),
        }
        for why, token in refused.items():
            status, body = await public_call(d, "balance.get", {}, token)
            assert status == 401, (why, body)
            assert body["error"]["code"] == -32001 and SESSION_SECRET not in str(body)
        status, _ = await public_call(
            d, "balance.get", {}, session("alice", net="1"), **{"X-Network-Id": "2"}
        )
        assert status == 401
        status, _ = await public_call(
            d, "balance.get", {}, session("alice", net="1"), **{"X-Network-Id": "1"}
        )
        assert status == 200


async def test_es256_sessions_with_a_configured_public_key(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "session.pub").write_bytes(pem)
    other = ec.generate_private_key(ec.SECP256R1())
    settings = {"public_key": {"file": "session.pub"}, "algorithms": ["ES256"]}
    async with running_daemon(tmp_path, commerce(sessions=settings)) as d:
        claims = {"sub": "alice", "exp": int(time.time()) + 600}
        status, _ = await public_call(
            d, "balance.get", {}, jwt.encode(claims, private, algorithm="ES256")
        )
        assert status == 200
        status, _ = await public_call(
            d, "balance.get", {}, jwt.encode(claims, other, algorithm="ES256")
        )
        assert status == 401  # wrong key
        # the public key used as an HMAC secret (algorithm confusion) is refused
        status, _ = await public_call(d, "balance.get", {}, _hs256_with(pem, claims))
        assert status == 401


async def test_a_public_key_used_as_an_hmac_secret_gets_the_precise_401(tmp_path: Path) -> None:
    """Algorithm confusion: an HS256 token whose HMAC secret is the configured RS/ES public
    key. Refused as a session error (401, -32001, saying why), never a 500."""
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {"sub": "alice", "exp": int(time.time()) + 600}
    cases = [
        (ec_pem, ["ES256"], "session token algorithm not accepted"),
        (rsa_pem, ["RS256"], "session token algorithm not accepted"),
        (rsa_pem, ["RS256", "HS256"], "invalid session token"),
    ]
    for n, (pem, algorithms, why) in enumerate(cases):
        (tmp_path / f"run{n}").mkdir()
        (tmp_path / f"run{n}" / "session.pub").write_bytes(pem)
        settings: dict[str, Any] = {"public_key": {"file": "session.pub"}, "algorithms": algorithms}
        if "HS256" in algorithms:
            settings["secret"] = SESSION_SECRET
        async with running_daemon(tmp_path / f"run{n}", commerce(sessions=settings)) as d:
            await gift(d, "alice")
            status, body = await public_call(d, "balance.get", {}, _hs256_with(pem, claims))
            assert status == 401, (algorithms, body)
            assert body["error"]["code"] == -32001, (algorithms, body)
            assert body["error"]["message"] == f"Unauthorized: {why}", (algorithms, body)
            if "HS256" in algorithms:  # the shop's own secret still signs valid sessions
                status, body = await public_call(d, "balance.get", {}, session("alice"))
                assert status == 200, body


def _hs256_with(key: bytes, claims: dict[str, Any]) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


async def test_websocket_with_a_session_query_parameter(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift(d, "alice")
        async with d.session.ws_connect(f"{d.public_url}/ws?session={session('alice')}") as ws:
            await ws.send_json(
                {"endpoint": "balance:get", "data": {}, "event": {"id": "e1", "date": 0}}
            )
            reply = await ws.receive_json(timeout=10)
            assert reply["event"]["id"] == "e1"
            assert reply["data"]["balances"][0]["amount"] == "30.00"
            await ws.send_json(
                {
                    "endpoint": "balance:adjust",
                    "event": {"id": "e2"},
                    "data": {
                        "currency": "AUD",
                        "amount": "5.00",
                        "reason": "x",
                        "idempotency_key": "ws-steal-01",
                    },
                }
            )
            reply = await ws.receive_json(timeout=10)
            assert reply["error"]["code"] == -32003 and reply["data"] is None
            await ws.send_json(
                {"endpoint": "balance:get", "data": {"customer": "bob"}, "event": {"id": "e3"}}
            )
            assert (await ws.receive_json(timeout=10))["error"]["code"] == -32003
        async with d.session.get(f"{d.public_url}/ws") as resp:
            assert resp.status == 401
        async with d.session.get(f"{d.public_url}/ws?session={session('alice', ttl=-99)}") as r:
            assert r.status == 401


async def test_purchase_endpoint_on_the_public_port_with_a_session(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift(d, "alice")
        body = {
            "PurchaseToken": "tok-pub-seed-1",
            "Product": {"Token": "gem_pack"},
            "UseDiamonds": False,
            "Currency": "AUD",
            "UseStoredCard": False,
        }
        async with d.session.post(f"{d.public_url}/User/Purchase", json=body) as resp:
            assert resp.status == 401
        body["UseDiamonds"] = True
        await d.call(
            "balance.adjust",
            {
                "customer": "alice",
                "currency": "diamonds",
                "amount": "100",
                "reason": "gift",
                "idempotency_key": "gift-alice-dia",
            },
        )
        del body["Currency"]
        async with d.session.post(
            f"{d.public_url}/User/Purchase", json=body, headers={"X-Session-Id": session("alice")}
        ) as resp:
            answer = await resp.json()
        assert answer["PaymentResponse"] == "Success", answer
        async with d.session.post(
            f"{d.public_url}/User/Purchase",
            json={**body, "customer": "bob"},
            headers={"X-Session-Id": session("alice")},
        ) as resp:
            assert resp.status == 403


async def test_a_browser_may_send_the_session_headers_cross_origin(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        async with d.session.options(
            f"{d.public_url}/api/v0/rpc/balance.get",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-session-id, x-network-id",
            },
        ) as resp:
            allowed = resp.headers["Access-Control-Allow-Headers"].lower()
        assert "x-session-id" in allowed and "x-network-id" in allowed


async def test_a_token_for_another_audience_or_issuer_is_refused(tmp_path: Path) -> None:
    settings = {
        "secret": SESSION_SECRET,
        "algorithms": ["HS256"],
        "audience": ["shop-app", "shop-web"],
        "issuer": "https://shop.example",
    }
    async with running_daemon(tmp_path, commerce(sessions=settings)) as d:
        iss = "https://shop.example"
        refused = {
            "other audience": session("alice", aud="billing-admin", iss=iss),
            "other issuer": session("alice", aud="shop-app", iss="https://other.example"),
            "no aud": session("alice", iss=iss),
            "no iss": session("alice", aud="shop-app"),
        }
        for why, token in refused.items():
            status, body = await public_call(d, "balance.get", {}, token)
            assert status == 401 and body["error"]["code"] == -32001, (why, body)
        for aud in ("shop-app", "shop-web", ["elsewhere", "shop-web"]):
            status, body = await public_call(
                d, "balance.get", {}, session("alice", aud=aud, iss=iss)
            )
            assert status == 200, (aud, body)


async def test_without_audience_settings_a_token_with_aud_is_still_accepted(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        token = session("alice", aud="anything", iss="whoever")
        status, body = await public_call(d, "balance.get", {}, token)
        assert status == 200, body


async def test_balance_history_from_a_session_hides_the_shops_idempotency_keys(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift(d, "alice")
        status, body = await public_call(d, "balance.history", {}, session("alice"))
        assert status == 200, body
        [entry] = body["data"]["entries"]
        assert entry["amount"] == "30.00" and entry["kind"] == "adjustment"
        assert "idempotency_key" not in entry
        assert "gift-alice-1" not in json.dumps(body)
        private = await d.call("balance.history", {"customer": "alice"})
        assert private["result"]["entries"][0]["idempotency_key"] == "adjust:gift-alice-1"


async def test_public_websocket_echoes_the_event_id_of_a_frame_without_endpoint(
    tmp_path: Path,
) -> None:
    async with (
        running_daemon(tmp_path, commerce()) as d,
        d.session.ws_connect(f"{d.public_url}/ws?session={session('alice')}") as ws,
    ):
        await ws.send_json({"data": {}, "event": {"id": "e-42", "date": 0}})
        reply = await ws.receive_json(timeout=10)
        assert reply["event"]["id"] == "e-42" and reply["error"]["code"] == -32600
        await ws.send_json(["not", "an", "object"])
        assert (await ws.receive_json(timeout=10))["event"]["id"] is None
