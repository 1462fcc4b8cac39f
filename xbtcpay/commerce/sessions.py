"""Shop-issued sessions: JWTs naming the customer the end user's app acts for, or opaque ids
the shop's introspection endpoint vouches for (``xbtcpay.commerce.introspection``).

Claims: ``sub`` = customer (1-128 printable characters), ``exp`` (required), ``iat``/``nbf``
(optional), ``net`` (optional; the app payment API's ``X-Network-Id`` must equal it when both are
present), ``aud``/``iss`` (required and checked when ``sessions.audience``/``sessions.issuer``
are set, so a token the shop issued for another service is refused; otherwise not checked). The key is chosen by the token's ``alg`` among the configured ``algorithms`` only
(``sessions.secret`` for HS*, ``sessions.public_key`` for ES*/RS*/PS*/EdDSA), so a token
cannot pick its own algorithm, ``alg: none`` is never accepted and an HMAC token cannot be
verified with the public key as its secret. The signature is checked before any claim is read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from xbtcpay.commerce.errors import Unauthorized
from xbtcpay.commerce.introspection import Introspector
from xbtcpay.commerce.settings import HMAC_ALGORITHMS, SessionSettings

CUSTOMER_ID = re.compile(r"^[\x21-\x7e]{1,128}\Z")
MAX_TOKEN = 8192


@dataclass(frozen=True)
class Session:
    """A verified session: who the caller is and until when."""

    customer: str
    expires_at: int
    network: str | None = None


def valid_customer(value: Any) -> bool:
    """A customer id is the shop's own: 1-128 printable ASCII characters, no spaces."""
    return isinstance(value, str) and CUSTOMER_ID.match(value) is not None


class SessionVerifier:
    """Verifies session tokens against the configured keys and algorithms."""

    def __init__(self, settings: SessionSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._keys: dict[str, Any] = {}
        for alg in settings.algorithms:
            source = settings.secret if alg in HMAC_ALGORITHMS else settings.public_key
            if source is not None:
                self._keys[alg] = source.reveal()

    def verify(self, token: Any, network: str | None = None) -> Session:
        """The session of ``token``, or Unauthorized saying why (never echoing the token)."""
        if not self.settings.enabled:
            raise Unauthorized("sessions are not configured on this daemon")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise Unauthorized("missing session (X-Session-Id)")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError:
            raise Unauthorized("malformed session token") from None
        key = self._keys.get(alg) if isinstance(alg, str) else None
        if key is None or not isinstance(alg, str):
            raise Unauthorized("session token algorithm not accepted")
        claims = self._decode(token, key, alg)
        return self.session_of(claims, network)

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        audience, issuer = self.settings.audience, self.settings.issuer
        required = ["exp", "sub"] + (["aud"] if audience else []) + (["iss"] if issuer else [])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                leeway=self.settings.leeway,
                audience=list(audience) or None,
                issuer=issuer,
                options={"require": required, "verify_aud": bool(audience)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("session expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("session not yet valid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"session token lacks the {exc.claim} claim") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # PyJWTError includes InvalidKeyError: a key that does not fit the algorithm
            # is the caller's bad token, not a server error
            raise Unauthorized("invalid session token") from None
        return claims

    def session_of(self, claims: Mapping[str, Any], network: str | None) -> Session:
        """The session the verified ``claims`` describe (sub, exp, net checked)."""
        customer, exp, net = claims.get("sub"), claims.get("exp"), claims.get("net")
        if not isinstance(customer, str) or not valid_customer(customer):
            raise Unauthorized("session sub is not a valid customer id")
        if isinstance(exp, bool) or not isinstance(exp, int):
            raise Unauthorized("session exp must be an integer")
        if exp - self.clock() > self.settings.max_lifetime:
            raise Unauthorized("session lifetime exceeds sessions.max_lifetime")
        if net is not None and not isinstance(net, (str, int)):
            raise Unauthorized("session net must be a string")
        net_text = None if net is None else str(net)
        if net_text is not None and network is not None and network != net_text:
            raise Unauthorized("X-Network-Id does not match the session's network")
        return Session(customer, exp, net_text)


_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")
_OPAQUE = re.compile(r"^[\x21-\x7e]+\Z")


class SessionResolver:
    """Every session an app may send: a JWT when JWT keys are configured and the token is
    one, else (with ``sessions.introspect_url``) an opaque id the shop is asked about."""

    def __init__(self, verifier: SessionVerifier, introspector: Introspector | None) -> None:
        self.verifier = verifier
        self.introspector = introspector

    def clock(self) -> float:
        return self.verifier.clock()

    async def resolve(self, token: Any, network: str | None = None) -> Session:
        """The session of ``token``; Unauthorized (401) or SessionsUnavailable (503)."""
        jwt_keys = bool(self.verifier.settings.algorithms)
        is_jwt = isinstance(token, str) and _JWT.match(token) is not None
        if self.introspector is None or (jwt_keys and is_jwt):
            return self.verifier.verify(token, network)
        if not isinstance(token, str) or not token:
            raise Unauthorized("missing session (X-Session-Id)")
        if len(token) > MAX_TOKEN or not _OPAQUE.match(token):
            raise Unauthorized("malformed session id")
        claims = await self.introspector.claims(token)
        now = self.clock()
        if claims["exp"] <= now:
            raise Unauthorized("session expired")
        # The shop vouches for its id again every introspect_cache seconds, so a long-lived
        # login is not refused; only what xbtcpay keeps of it (an open WebSocket) is bounded.
        bounded = min(claims["exp"], int(now) + self.verifier.settings.max_lifetime)
        return self.verifier.session_of({**claims, "exp": bounded}, network)
