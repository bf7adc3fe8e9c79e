"""Signed tokens: HMAC-SHA256 with a purpose prefix, so a MAC made for one purpose never
verifies for another.

`reply_tag` is the tag an alert's Message-ID carries (`<leadmail.KEY.TAG@domain>`): a MAC over
the lead, the agent the alert went to, the action kind and the outbox key (which names the
offer or assignment). An answer to an alert acts only when its In-Reply-To or References
carries a tag that verifies for that very agent and that very alert (notify.replies), so an
outsider who knows, or guesses, an alert's key cannot forge one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_REPLY = b"leadmail.reply.v1:"
TAG_LENGTH = 20  # base32 characters: 100 bits of the MAC (short, so the Message-ID fits a line)


def mac(secret: str, purpose: bytes, payload: bytes) -> bytes:
    """HMAC-SHA256 of `payload` under `secret`, bound to `purpose`."""
    return hmac.new(secret.encode(), purpose + payload, hashlib.sha256).digest()


def reply_tag(secret: str, lead_id: int | None, recipient: str, key: str) -> str:
    """The tag of the alert `key` (outbox idempotency key) sent to `recipient` about a lead."""
    kind = key.split("-", 1)[0]
    payload = f"{lead_id or 0}|{recipient.strip().lower()}|{kind}|{key}".encode()
    digest = mac(secret, _REPLY, payload)[:16]
    return base64.b32encode(digest).decode().lower()[:TAG_LENGTH]


def reply_tag_ok(secret: str, tag: str, lead_id: int | None, recipient: str, key: str) -> bool:
    """Whether `tag` is the tag of that alert (constant-time comparison)."""
    return hmac.compare_digest(tag.lower(), reply_tag(secret, lead_id, recipient, key))
