"""Signed, expiring, single-purpose links: claim, accept, decline (and a manager's assign).

A token is `PAYLOAD.SIGNATURE`, sealed by leadmail.tokens for `tokens.LINK` with
`[http] secret`: PAYLOAD is compact JSON naming the lead, the agent, the action (and the offer
or target agent), and when it expires. Nothing in it is guessable without the secret, and
changing any byte of it makes it forged. Tokens are not stored: the lead's state decides what
a second use does (the action answers "already claimed").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadmail import tokens

ACTIONS = ("claim", "accept", "decline", "assign")


class BadLink(tokens.BadToken):
    """A token that must not act: `reason` is "forged" or "expired"."""


@dataclass(frozen=True)
class Link:
    """What a verified token allows: `agent` may do `action` on `lead` until `expires`."""

    lead: int
    agent: str
    action: str
    expires: datetime
    offer: int | None = None
    target: str | None = None  # assign: the agent the manager gives the lead to


def sign(secret: str, link: Link) -> str:
    """The token for a link."""
    if link.action not in ACTIONS:
        raise ValueError(f"{link.action!r} is not one of {', '.join(ACTIONS)}")
    body: dict[str, Any] = {"l": link.lead, "a": link.agent, "x": link.action}
    if link.offer is not None:
        body["o"] = link.offer
    if link.target is not None:
        body["t"] = link.target
    return tokens.seal(secret, tokens.LINK, body, link.expires)


def verify(secret: str, token: str, now: datetime) -> Link:
    """The link a token stands for; BadLink("forged") or BadLink("expired") otherwise."""
    try:
        body = tokens.unseal(secret, tokens.LINK, token, now)
    except tokens.BadToken as exc:
        raise BadLink(exc.reason) from None
    try:
        link = Link(
            lead=int(body["l"]),
            agent=str(body["a"]),
            action=str(body["x"]),
            expires=tokens.expiry(body),
            offer=int(body["o"]) if "o" in body else None,
            target=str(body["t"]) if "t" in body else None,
        )
    except (ValueError, KeyError, TypeError):  # signed by us, so only a format change gets here
        raise BadLink("forged") from None
    if link.action not in ACTIONS:
        raise BadLink("forged")
    return link


def url(base_url: str, secret: str, link: Link) -> str:
    """The address agents open: GET shows the lead and one button, POST acts."""
    return f"{base_url.rstrip('/')}/a/{sign(secret, link)}"
