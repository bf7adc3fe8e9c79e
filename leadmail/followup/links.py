"""Signed links of follow-up: "mark this step done" (agenda and reminder emails) and pages.

A token is `PAYLOAD.SIGNATURE` (base64url), HMAC-SHA256 with `[http] secret` over a prefix of
its own, so a claim link's signature never verifies here and the other way round.

    step  {"s": step id, "a": agent, "e": expiry}   GET /s/TOKEN shows it, POST marks it done
    view  {"k": API key name, "h": key binding, "e": expiry}
                                                    ?t=TOKEN: the pages as that key sees them

A view token is bound to its key as configured when the token was made (`h`, derived from the
key's SHA-256): rotating the key (a new key_sha256) makes every earlier link and sign-in
cookie of that key worthless. It never lives longer than MAX_VIEW_HOURS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

_DOMAINS = {"step": b"leadmail.step.v1:", "view": b"leadmail.view.v1:"}
MAX_VIEW_HOURS = 90 * 24  # a page link (or sign-in) works at most 90 days


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


def key_binding(key_digest: str) -> str:
    """What a view token carries of its key: changes with the key, and does not reveal the
    key's SHA-256 (which is all the config holds of it)."""
    return _b64(hashlib.sha256(b"leadmail.view.key:" + key_digest.encode()).digest()[:16])


def view_token(secret: str, key_name: str, expires: datetime, *, key_digest: str,
               at: datetime | None = None) -> str:
    """A token that opens the pages as the API key `key_name` (whose SHA-256 is `key_digest`)
    sees them; ValueError if `expires` is more than MAX_VIEW_HOURS after `at` (now)."""
    start = at or datetime.now(UTC)
    if expires - start > timedelta(hours=MAX_VIEW_HOURS):
        raise ValueError(f"a page link lives at most {MAX_VIEW_HOURS} hours (90 days)")
    return sign(secret, "view", {"k": key_name, "h": key_binding(key_digest)}, expires)


def verify_view(secret: str, token: str, key_digests: dict[str, str], at: datetime) -> str:
    """The key name of a valid view token whose key is still the one it was made for
    (`key_digests`: name -> SHA-256 of each configured key); BadToken otherwise."""
    body = verify(secret, "view", token, at)
    digest = key_digests.get(str(body.get("k")))
    if digest is None or not hmac.compare_digest(str(body.get("h", "")), key_binding(digest)):
        raise BadToken("forged")  # another key now, or a token made before keys were bound
    if datetime.fromtimestamp(body["e"], UTC) - at > timedelta(hours=MAX_VIEW_HOURS):
        raise BadToken("forged")  # longer than any link leadmail makes
    return str(body["k"])
