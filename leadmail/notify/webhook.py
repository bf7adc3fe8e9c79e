"""Webhook alerts: a POST per alert, signed so the receiver knows it came from us.

Headers on every request:
    X-Leadmail-Timestamp: 1767225600              (Unix seconds, at sending)
    X-Leadmail-Signature: sha256=<hex>            (HMAC-SHA256 of "<timestamp>.<body>", with
                                                   the webhook's secret; only when one is set)
    Idempotency-Key: offer-12.slack               (the same on every retry of one alert)

The body is fixed when the outbox row is written, so a retry sends the same bytes with a fresh
timestamp and signature. A receiver checks the signature, refuses stale timestamps (replays),
and drops a key it has seen (we deliver at least once). 4xx answers other than 408/425/429 are
permanent failures; anything else is retried until the deadline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from leadmail import __version__
from leadmail.config import WebhookConfig
from leadmail.notify import PermanentFailure
from leadmail.notify.alert import agent_view
from leadmail.notify.render import render_string

RETRYABLE = frozenset({408, 425, 429})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Leadmail-Signature value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str, tolerance: float = 300) -> bool:
    """What a receiver does (Python): signature matches and the timestamp is recent."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), header)


_EVENTS = {"offer": "lead.offered", "assignment": "lead.assigned", "pick": "lead.to_assign"}


def _slack(view: dict[str, Any], rendered: dict[str, str]) -> dict[str, Any]:
    lead, urls = view["lead"], view["links"]
    facts = [f"*{rendered['subject']}*"]
    for label, key in (("Phone", "phone"), ("Email", "email"), ("Property", "property_address")):
        if lead.get(key):
            facts.append(f"{label}: {lead[key]}")
    if lead.get("price"):
        facts.append(f"Price: ${lead['price']:,}")
    buttons = [
        (label, urls[key])
        for label, key in (("Claim", "claim"), ("Accept", "accept"), ("Decline", "decline"))
        if urls.get(key)
    ]
    buttons += [(f"Give to {c['name']}", c["url"]) for c in urls.get("assign") or []]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)}}
    ]
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
                    for label, url in buttons
                ],
            }
        )
    return {"text": rendered["short"], "blocks": blocks}


def build(
    hook: WebhookConfig, view: dict[str, Any], rendered: dict[str, str], key: str
) -> dict[str, Any]:
    """The outbox payload of one alert on this webhook: its body, decided once."""
    if hook.format == "form":
        ctx = {
            **view,
            "agent": agent_view(view["agent"]),
            **{"short": rendered["short"], "subject": rendered["subject"]},
        }
        fields = {name: render_string(tpl, ctx) for name, tpl in hook.form.items()}
        body, ctype = urllib.parse.urlencode(fields), "application/x-www-form-urlencoded"
    elif hook.format == "slack":
        body, ctype = json.dumps(_slack(view, rendered)), "application/json"
    else:
        data = {
            "event": _EVENTS.get(view.get("kind", ""), "lead.alert"),
            "idempotency_key": key,
            "lead": view["lead"],
            "hidden": view.get("hidden", False),
            "agent": agent_view(view["agent"]),
            "links": view.get("links", {}),
            "expires_at": view.get("expires_at"),
            "subject": rendered["subject"],
            "text": rendered["short"],
        }
        body, ctype = json.dumps(data, ensure_ascii=False, default=str), "application/json"
    return {"channel": hook.name, "content_type": ctype, "body": body}


def send(hook: WebhookConfig, payload: dict[str, Any], key: str) -> None:
    """POST once. PermanentFailure for a refusal; any other exception is temporary."""
    body = payload["body"].encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": payload["content_type"],
        "User-Agent": f"leadmail/{__version__}",
        "X-Leadmail-Timestamp": timestamp,
        "Idempotency-Key": key,
        **hook.headers,
    }
    if hook.secret:
        headers["X-Leadmail-Signature"] = signature(hook.secret, timestamp, body)
    if hook.username is not None:
        pair = f"{hook.username}:{hook.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in RETRYABLE:
            detail = exc.read(500).decode(errors="replace")
            raise PermanentFailure(f"{exc.code} {exc.reason}: {detail}") from exc
        raise
