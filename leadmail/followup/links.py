"""Signed links of follow-up: "mark this step done" (agenda and reminder emails) and pages.

A token is `PAYLOAD.SIGNATURE` (base64url), HMAC-SHA256 with `[http] secret` over a prefix of
its own, so a claim link's signature never verifies here and the other way round.

    step  {"s": step id, "a": agent, "e": expiry}   GET /s/TOKEN shows it, POST marks it done
    view  {"k": API key name, "e": expiry}          ?t=TOKEN: the pages as that key sees them
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

_DOMAINS = {"step": b"leadmail.step.v1:", "view": b"leadmail.view.v1:"}


class BadToken(Exception):
    """A token that must not act: `reason` is "forged" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), _DOMAINS[purpose] + payload.encode(), hashlib.sha256).digest()


def sign(secret: str, purpose: str, body: dict[str, Any], expires: datetime) -> str:
    """A token for `purpose` ("step" or "view") carrying `body` until `expires`."""
    data = {**body, "e": int(expires.timestamp())}
    payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_mac(secret, purpose, payload))}"


def verify(secret: str, purpose: str, token: str, at: datetime) -> dict[str, Any]:
    """The body of a valid token; BadToken("forged" / "expired") otherwise."""
    payload, dot, signature = token.partition(".")
    try:
        given = _unb64(signature)
        body = json.loads(_unb64(payload)) if dot else None
    except (binascii.Error, ValueError):
        raise BadToken("forged") from None
    if not dot or not hmac.compare_digest(given, _mac(secret, purpose, payload)):
        raise BadToken("forged")
    if not isinstance(body, dict) or not isinstance(body.get("e"), int):
        raise BadToken("forged")
    if at >= datetime.fromtimestamp(body["e"], UTC):
        raise BadToken("expired")
    return body


def step_url(base_url: str, secret: str, step_id: int, agent: str, expires: datetime) -> str:
    """The "mark done" link of a step."""
    return f"{base_url.rstrip('/')}/s/{sign(secret, 'step', {'s': step_id, 'a': agent}, expires)}"


def view_token(secret: str, key_name: str, expires: datetime) -> str:
    """A token that opens the pages as the API key `key_name` sees them."""
    return sign(secret, "view", {"k": key_name}, expires)
