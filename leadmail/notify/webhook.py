"""Webhook alerts: a POST per alert, signed so the receiver knows it came from us.

Headers on every request:
    X-Leadmail-Timestamp: 1767225600              (Unix seconds, at sending)
    X-Leadmail-Signature: sha256=<hex>            (HMAC-SHA256 of "<timestamp>.<body>", with
                                                   the webhook's secret; only when one is set)
    Idempotency-Key: offer-12.slack               (the same on every retry of one alert)

The body is fixed when the outbox row is written, so a retry sends the same bytes with a fresh
timestamp and signature. A receiver checks the signature, refuses stale timestamps (replays),
and drops a key it has seen (we deliver at least once). 4xx answers other than 408/425/429 are
permanent failures; anything else is retried until the row's retry_for.

Redirects are never followed: a 3xx is a failure (301 and 308 for good, the others retried),
so a receiver cannot send our Authorization header and the alert to another origin. Each
request has a total deadline (the webhook's `deadline`) besides the per-socket `timeout`: a
receiver that trickles its answer a byte at a time is cut there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
import urllib.parse
from functools import lru_cache
from typing import Any

import httpx

from leadmail import __version__, tokens
from leadmail.config import WebhookConfig
from leadmail.headers import header_value
from leadmail.notify import PermanentFailure
from leadmail.notify.alert import agent_view
from leadmail.notify.render import render_string

RETRYABLE = frozenset({408, 425, 429})
MOVED_FOR_GOOD = frozenset({301, 308})
ANSWER_LIMIT = 65536  # bytes of an answer read (and then the connection closed)


class WebhookError(Exception):
    """A temporary failure of one request: a 5xx, 408/425/429, a redirect, the deadline."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Leadmail-Signature value for a body sent at `timestamp`."""
    return tokens.webhook_signature(secret, timestamp, body)


def verify(secret: str, timestamp: str, body: bytes, header: str, tolerance: float = 300) -> bool:
    """What a receiver does (Python): signature matches and the timestamp is recent."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and tokens.webhook_signature_ok(secret, timestamp, body, header)


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


def build_text(hook: WebhookConfig, to: dict[str, Any], text: str, key: str,
               context: dict[str, Any]) -> dict[str, Any]:
    """The outbox payload of a text message to a lead (a campaign step) on this webhook.

    The same webhook that texts agents their alerts texts leads: its `form` templates see the
    recipient as `agent` (name, email, phone: here the lead's) and the message as `short`,
    as in an alert; `text` is the message too, `to` the recipient again, and `context` adds
    `lead` and `owner` (the lead's agent)."""
    if hook.format == "form":
        ctx = {**context, "agent": to, "to": to, "short": text, "text": text, "subject": "",
               "links": {}}
        fields = {name: render_string(tpl, ctx) for name, tpl in hook.form.items()}
        body, ctype = urllib.parse.urlencode(fields), "application/x-www-form-urlencoded"
    elif hook.format == "slack":
        body, ctype = json.dumps({"text": text}), "application/json"
    else:
        data = {"event": "campaign.text", "idempotency_key": key, "to": to, "text": text,
                **context}
        body, ctype = json.dumps(data, ensure_ascii=False, default=str), "application/json"
    return {"channel": hook.name, "content_type": ctype, "body": body}


def send(hook: WebhookConfig, payload: dict[str, Any], key: str) -> None:
    """POST once, from code without an event loop (see send_async)."""
    asyncio.run(send_async(hook, payload, key))


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()  # the system's trust store, as urllib used


async def send_async(hook: WebhookConfig, payload: dict[str, Any], key: str) -> None:
    """POST once, never following a redirect, within `hook.deadline` seconds in all.

    PermanentFailure for a refusal (4xx but 408/425/429, a 301/308); any other exception
    (WebhookError, httpx's errors) is temporary.
    """
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
    headers = {name: header_value(value) for name, value in headers.items()}
    try:
        async with (
            asyncio.timeout(hook.deadline),
            httpx.AsyncClient(
                timeout=hook.timeout, follow_redirects=False, verify=_tls()
            ) as client,
            client.stream("POST", hook.url, content=body, headers=headers) as response,
        ):
            answer = b""
            async for chunk in response.aiter_raw():
                answer += chunk
                if len(answer) >= ANSWER_LIMIT:
                    break
    except TimeoutError:
        raise WebhookError(
            f"deadline: no complete answer within {hook.deadline:g} s"
        ) from None
    code = response.status_code
    if 200 <= code < 300:
        return
    if 300 <= code < 400:
        reason = f"redirect {code} to {_origin(response)}: not followed (redirects never are)"
        if code in MOVED_FOR_GOOD:
            raise PermanentFailure(reason + "; point the webhook's url at the new address")
        raise WebhookError(reason)
    detail = answer[:500].decode(errors="replace")
    if 400 <= code < 500 and code not in RETRYABLE:
        raise PermanentFailure(f"{code} {response.reason_phrase}: {detail}")
    raise WebhookError(f"{code} {response.reason_phrase}: {detail}")


def _origin(response: httpx.Response) -> str:
    """Where a redirect points: its origin only (a path may hold a token, ours or theirs)."""
    try:
        target = response.url.join(response.headers.get("location", ""))
    except httpx.InvalidURL:
        return "an invalid Location"
    same = target.netloc == response.url.netloc and target.scheme == response.url.scheme
    origin = f"{target.scheme}://{target.netloc.decode(errors='replace')}"
    return f"{origin} (the same origin, another path)" if same else origin
