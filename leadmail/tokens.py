"""Every signed token of leadmail, and the only module that calls hmac.

A MAC is HMAC-SHA256 with a purpose prefix, so a MAC made for one purpose never verifies for
another. The purposes (each its own prefix, kept here so no two can collide):

    LINK   notify.links: claim / accept / decline / assign links    `/a/TOKEN`
    STEP   followup.links: "mark this step done"                    `/s/TOKEN`
    VIEW   followup.links: the pages as an API key sees them         `?t=TOKEN`
    REPLY  the tag in an alert's Message-ID (`reply_tag`)
    CSRF   web.session: the token every form of the web app carries (`csrf_token`)
    UNSUB  followup.campaigns: a lead's one-click unsubscribe link     `/u/TOKEN`

The web app's sign-in link (`/app/login/TOKEN`) and session cookie are random tokens, not
sealed ones (`new_secret`): the database keeps only their digest (`secret_digest`), so a
link is one-time (its row is consumed on use) and a session can be revoked.

A sealed token (`seal`, `unseal`) is `PAYLOAD.SIGNATURE`, both base64url without padding:
PAYLOAD is compact JSON with sorted keys and `e` (expiry, Unix seconds); SIGNATURE is the MAC
over the purpose prefix and PAYLOAD's text. Tokens are not stored; changing any byte of one
makes it forged.

`reply_tag` is the tag an alert's Message-ID carries (`<leadmail.KEY.TAG@domain>`): a MAC over
the lead, the agent the alert went to, the action kind and the outbox key (which names the
offer or assignment). An answer to an alert acts only when its In-Reply-To or References
carries a tag that verifies for that very agent and that very alert (routing.replies), so an
outsider who knows, or guesses, an alert's key cannot forge one.

`webhook_signature` is the X-Leadmail-Signature of a webhook POST: HMAC-SHA256 of
"<timestamp>.<body>" under the webhook's own secret, without a prefix (the receivers check
that exact format). `twilio_signature_ok` checks the X-Twilio-Signature of a text message
Twilio forwards to the inbound endpoint of a webhook (base64 HMAC-SHA1 of the URL and the
sorted form fields, under the account's auth token: Twilio's format). API keys are kept as
SHA-256 (`key_digest`) and compared in constant time (`same`).

Every format here is on the wire (links in sent mail, receivers' checks): change none of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any

LINK = b"leadmail.link.v1:"
STEP = b"leadmail.step.v1:"
VIEW = b"leadmail.view.v1:"
UNSUB = b"leadmail.unsubscribe.v1:"
_REPLY = b"leadmail.reply.v1:"
CSRF = b"leadmail.csrf.v1:"
_STORED = b"leadmail.stored.v1:"  # a hash, not a MAC: how sign-in links and cookies are kept
_VIEW_KEY = b"leadmail.view.key:"  # a hash, not a MAC: what a view token carries of its key
TAG_LENGTH = 20  # base32 characters: 100 bits of the MAC (short, so the Message-ID fits a line)


class BadToken(Exception):
    """A token that must not act: `reason` is "forged" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def mac(secret: str, purpose: bytes, payload: bytes) -> bytes:
    """HMAC-SHA256 of `payload` under `secret`, bound to `purpose`."""
    return hmac.new(secret.encode(), purpose + payload, hashlib.sha256).digest()


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Whether two secrets (or MACs, or digests) are equal, in constant time."""
    if isinstance(given, str) and isinstance(expected, str):
        return hmac.compare_digest(given.encode(), expected.encode())
    if isinstance(given, bytes) and isinstance(expected, bytes):
        return hmac.compare_digest(given, expected)
    return False


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    """The bytes of base64url text, padded or not; binascii.Error or ValueError if it is not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(secret: str, purpose: bytes, body: dict[str, Any], expires: datetime) -> str:
    """The token carrying `body` for `purpose` until `expires`."""
    data = {**body, "e": int(expires.timestamp())}
    payload = b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{b64(mac(secret, purpose, payload.encode()))}"


def unseal(secret: str, purpose: bytes, token: str, at: datetime) -> dict[str, Any]:
    """The body of a token sealed for `purpose` (with its `e`); BadToken("forged") if it was
    not made by `seal` with this secret and purpose, BadToken("expired") if `at` is past it."""
    payload, dot, signature = token.partition(".")
    # The signature's text is compared, not its decoded bytes: base64 ignores the low bits of
    # the last character, so a changed character could otherwise still verify.
    if not dot or not same(signature, b64(mac(secret, purpose, payload.encode()))):
        raise BadToken("forged")
    try:
        body = json.loads(unb64(payload))
    except (binascii.Error, ValueError):  # signed by us, so only a format change gets here
        raise BadToken("forged") from None
    if not isinstance(body, dict) or not isinstance(body.get("e"), int):
        raise BadToken("forged")
    if at >= expiry(body):
        raise BadToken("expired")
    return body


def expiry(body: dict[str, Any]) -> datetime:
    """When an unsealed token's body expires."""
    return datetime.fromtimestamp(body["e"], UTC)


def key_digest(key: str) -> str:
    """How an API key is kept (key_sha256) and compared: SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_secret() -> str:
    """A fresh random token (256 bits, base64url): a sign-in link's or a session cookie's."""
    return b64(secrets.token_bytes(32))


def secret_digest(token: str) -> str:
    """How a sign-in link or session cookie is stored and looked up: SHA-256, hex. Tokens of
    any other length than `new_secret`'s never match a stored one."""
    return hashlib.sha256(_STORED + token.encode(errors="replace")[:100]).hexdigest()


def csrf_token(secret: str, bound_to: str) -> str:
    """The CSRF token of forms shown to the holder of `bound_to` (a session's digest, or
    the pre-sign-in cookie's value): a MAC, so only this server can make it."""
    return b64(mac(secret, CSRF, bound_to.encode()))


def csrf_ok(secret: str, bound_to: str, given: str | None) -> bool:
    """Whether `given` is the CSRF token for `bound_to` (constant time)."""
    return bool(given) and bool(bound_to) and same(str(given), csrf_token(secret, bound_to))


def key_binding(digest: str) -> str:
    """What a view token carries of its key (of `digest`, its SHA-256): changes with the key,
    and does not reveal the digest (which is all the config holds of the key)."""
    return b64(hashlib.sha256(_VIEW_KEY + digest.encode()).digest()[:16])


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Leadmail-Signature value for a webhook body sent at `timestamp`."""
    return "sha256=" + mac(secret, b"", timestamp.encode() + b"." + body).hex()


def webhook_signature_ok(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether `header` is the signature of that body at that timestamp (constant time)."""
    return same(header, webhook_signature(secret, timestamp, body))


def reply_tag(secret: str, lead_id: int | None, recipient: str, key: str) -> str:
    """The tag of the alert `key` (outbox idempotency key) sent to `recipient` about a lead."""
    kind = key.split("-", 1)[0]
    payload = f"{lead_id or 0}|{recipient.strip().lower()}|{kind}|{key}".encode()
    digest = mac(secret, _REPLY, payload)[:16]
    return base64.b32encode(digest).decode().lower()[:TAG_LENGTH]


def reply_tag_ok(secret: str, tag: str, lead_id: int | None, recipient: str, key: str) -> bool:
    """Whether `tag` is the tag of that alert (constant-time comparison)."""
    return same(tag.lower(), reply_tag(secret, lead_id, recipient, key))


def twilio_signature_ok(auth_token: str, url: str, fields: dict[str, str], header: str) -> bool:
    """Whether `header` is Twilio's X-Twilio-Signature of a form POST to `url` (constant time)."""
    data = url + "".join(f"{k}{fields[k]}" for k in sorted(fields))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return same(header.strip(), base64.b64encode(digest).decode())
