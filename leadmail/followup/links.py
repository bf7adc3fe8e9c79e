"""Signed links of follow-up: "mark this step done" (agenda and reminder emails) and pages.

A token is `PAYLOAD.SIGNATURE`, sealed by leadmail.tokens with `[http] secret` for a purpose
of its own (`tokens.STEP`, `tokens.VIEW`), so a claim link's signature never verifies here and
the other way round.

    step  {"s": step id, "a": agent, "e": expiry}   GET /s/TOKEN shows it, POST marks it done
    view  {"k": API key name, "h": key binding, "e": expiry}
                                                    ?t=TOKEN: the pages as that key sees them

A view token is bound to its key as configured when the token was made (`h`, derived from the
key's SHA-256): rotating the key (a new key_sha256) makes every earlier link and sign-in
cookie of that key worthless. It never lives longer than MAX_VIEW_HOURS.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from leadmail import tokens
from leadmail.clock import utcnow

_PURPOSES = {"step": tokens.STEP, "view": tokens.VIEW}
MAX_VIEW_HOURS = 90 * 24  # a page link (or sign-in) works at most 90 days

BadToken = tokens.BadToken  # reason: "forged" or "expired"
key_binding = tokens.key_binding


def sign(secret: str, purpose: str, body: dict[str, Any], expires: datetime) -> str:
    """A token for `purpose` ("step" or "view") carrying `body` until `expires`."""
    return tokens.seal(secret, _PURPOSES[purpose], body, expires)


def verify(secret: str, purpose: str, token: str, at: datetime) -> dict[str, Any]:
    """The body of a valid token; BadToken("forged" / "expired") otherwise."""
    return tokens.unseal(secret, _PURPOSES[purpose], token, at)


def step_url(base_url: str, secret: str, step_id: int, agent: str, expires: datetime) -> str:
    """The "mark done" link of a step."""
    return f"{base_url.rstrip('/')}/s/{sign(secret, 'step', {'s': step_id, 'a': agent}, expires)}"


def view_token(secret: str, key_name: str, expires: datetime, *, key_digest: str,
               at: datetime | None = None) -> str:
    """A token that opens the pages as the API key `key_name` (whose SHA-256 is `key_digest`)
    sees them; ValueError if `expires` is more than MAX_VIEW_HOURS after `at` (now)."""
    start = at or utcnow()
    if expires - start > timedelta(hours=MAX_VIEW_HOURS):
        raise ValueError(f"a page link lives at most {MAX_VIEW_HOURS} hours (90 days)")
    return sign(secret, "view", {"k": key_name, "h": key_binding(key_digest)}, expires)


def verify_view(secret: str, token: str, key_digests: dict[str, str], at: datetime) -> str:
    """The key name of a valid view token whose key is still the one it was made for
    (`key_digests`: name -> SHA-256 of each configured key); BadToken otherwise."""
    body = verify(secret, "view", token, at)
    digest = key_digests.get(str(body.get("k")))
    if digest is None or not tokens.same(str(body.get("h", "")), key_binding(digest)):
        raise BadToken("forged")  # another key now, or a token made before keys were bound
    if tokens.expiry(body) - at > timedelta(hours=MAX_VIEW_HOURS):
        raise BadToken("forged")  # longer than any link leadmail makes
    return str(body["k"])
