"""Signed, expiring, single-purpose links: claim, accept, decline (and a manager's assign).

A token is `PAYLOAD.SIGNATURE`, both base64url: PAYLOAD is compact JSON naming the lead, the
agent, the action (and the offer or target agent), and when it expires; SIGNATURE is
HMAC-SHA256 over a fixed prefix and PAYLOAD with `[http] secret`. Nothing in it is guessable
without the secret, and changing any byte of it makes it forged. Tokens are not stored: the
lead's state decides what a second use does (the action answers "already claimed").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

ACTIONS = ("claim", "accept", "decline", "assign")
_DOMAIN = b"leadmail.link.v1:"  # a signature made for anything else never verifies here


class BadLink(Exception):
    """A token that must not act: `reason` is "forged" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Link:
    """What a verified token allows: `agent` may do `action` on `lead` until `expires`."""

    lead: int
    agent: str
    action: str
    expires: datetime
    offer: int | None = None
    target: str | None = None  # assign: the agent the manager gives the lead to


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + payload.encode(), hashlib.sha256).digest()


def sign(secret: str, link: Link) -> str:
    """The token for a link."""
    if link.action not in ACTIONS:
        raise ValueError(f"{link.action!r} is not one of {', '.join(ACTIONS)}")
    body = {"l": link.lead, "a": link.agent, "x": link.action, "e": int(link.expires.timestamp())}
    if link.offer is not None:
        body["o"] = link.offer
    if link.target is not None:
        body["t"] = link.target
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_mac(secret, payload))}"


def verify(secret: str, token: str, now: datetime) -> Link:
    """The link a token stands for; BadLink("forged") or BadLink("expired") otherwise."""
    payload, dot, signature = token.partition(".")
    try:
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        raise BadLink("forged") from None
    if not dot or not hmac.compare_digest(given, _mac(secret, payload)):
        raise BadLink("forged")
    try:
        body = json.loads(_unb64(payload))
        link = Link(
            lead=int(body["l"]),
            agent=str(body["a"]),
            action=str(body["x"]),
            expires=datetime.fromtimestamp(int(body["e"]), UTC),
            offer=int(body["o"]) if "o" in body else None,
            target=str(body["t"]) if "t" in body else None,
        )
    except (ValueError, KeyError, TypeError):  # signed by us, so only a format change gets here
        raise BadLink("forged") from None
    if link.action not in ACTIONS:
        raise BadLink("forged")
    if now >= link.expires:
        raise BadLink("expired")
    return link


def url(base_url: str, secret: str, link: Link) -> str:
    """The address agents open: GET shows the lead and one button, POST acts."""
    return f"{base_url.rstrip('/')}/a/{sign(secret, link)}"
