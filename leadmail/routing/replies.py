"""Reply-to-act: an agent answers an alert email with CLAIM, ACCEPT or DECLINE as first word.

A pipeline step before lead extraction (here, above notify, because acting on an answer is
routing's job: `routing.actions`): a message whose In-Reply-To or References names one
of our alerts (Message-ID `<leadmail.KEY@domain>`, KEY the outbox row's idempotency key) is
an answer, never a lead. It acts only when it comes from the address the alert was sent to
(or one of that agent's aliases); from anyone else, and from auto-responders, it does nothing
and is logged and recorded as an event. The agent gets a short answer by email saying what
happened (and, once the lead is theirs, its contact details).

A manager answers a "to assign" alert with `ASSIGN ben@brokerage.example` (or the agent's name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from leadmail.authres import vouched_by
from leadmail.config import Settings
from leadmail.db import session_scope
from leadmail.metrics import AGENT_ACTIONS
from leadmail.models import Event, Lead, Message, Outbox
from leadmail.notify import render
from leadmail.notify.alert import lead_view
from leadmail.notify.outbox import enqueue_email
from leadmail.parsers.text import html_to_text
from leadmail.routing import actions
from leadmail.tokens import TAG_LENGTH, reply_tag_ok

log = structlog.get_logger("leadmail.replies")
ALERT_ID = re.compile(r"<leadmail\.([^@<>\s]+)@[^<>\s]+>")
_TAG = re.compile(rf"[a-z2-7]{{{TAG_LENGTH}}}")
WORDS = ("claim", "accept", "decline", "assign")
_ATTRIBUTION = re.compile(r"^(On .{5,200} wrote:|-+ ?Original Message ?-+)\s*$", re.I)


@dataclass(frozen=True)
class Reply:
    """What matters in an answer to an alert."""

    keys: list[str]  # outbox keys it answers, most direct first
    tags: dict[str, str]  # key -> the reply tag its Message-ID carried (tokens.reply_tag)
    sender: str  # From, lower-cased
    word: str | None  # claim / accept / decline / assign, else None
    argument: str  # the rest of the first line (ASSIGN's agent)
    automatic: bool  # RFC 3834 Auto-Submitted, or a bulk/auto-reply precedence
    message_id: str | None


def _first_line(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part.get_content()
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(">"):
            continue
        if _ATTRIBUTION.match(line):
            break  # the rest is the quoted alert (bottom-posting with nothing on top)
        return line
    return ""


def _split_tag(ref: str) -> tuple[str, str]:
    """`KEY.TAG` -> (KEY, TAG); a reference without a tag -> (KEY, "")."""
    key, dot, tag = ref.rpartition(".")
    if dot and _TAG.fullmatch(tag):
        return key, tag
    return ref, ""


def recognize(raw: bytes) -> Reply | None:
    """The reply in raw bytes, or None when it answers none of our alerts (cheap check first)."""
    head = raw[: raw.find(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.find(b"\n\n")]
    if b"<leadmail." not in head:
        return None
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    in_reply_to = ALERT_ID.findall(str(msg.get("In-Reply-To", "")))
    references = ALERT_ID.findall(" ".join(str(v) for v in msg.get_all("References", [])))
    tags: dict[str, str] = {}
    keys: list[str] = []
    for ref in dict.fromkeys([*in_reply_to, *reversed(references)]):
        key, tag = _split_tag(ref)
        if key not in tags or (tag and not tags[key]):
            tags[key] = tag
        if key not in keys:
            keys.append(key)
    if not keys:
        return None
    senders = getaddresses([str(v) for v in msg.get_all("From", [])])
    sender = senders[0][1].strip().lower() if senders else ""
    line = _first_line(msg)
    m = re.match(r"^\W*([A-Za-z]+)\b\W*(.*)$", line)
    word = m.group(1).lower() if m and m.group(1).lower() in WORDS else None
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower() != "no" or str(
        msg.get("Precedence", "")
    ).strip().lower() in ("bulk", "junk", "auto_reply", "list")
    return Reply(
        keys,
        tags,
        sender,
        word,
        (m.group(2).strip() if m else ""),
        auto,
        str(msg.get("Message-ID", "")).strip() or None,
    )


def _alerts(engine: Engine, keys: list[str]) -> list[Outbox]:
    """The email rows of the alerts named, in the order named (at most 20 looked up)."""
    found = []
    with Session(engine) as session:
        for key in keys[:20]:
            row = session.exec(
                select(Outbox).where(Outbox.idempotency_key == key, Outbox.kind == "email")
            ).first()
            if row is not None:
                found.append(row)
    return found


def _refused(engine: Engine, msg_id: int, lead_id: int | None, reply: Reply, alert: str,
             why: str, outcome: str, event: str, **fields: object) -> None:
    """An answer that must not act: a warning, the metric, and a reply_ignored event."""
    word = (reply.word or "").upper() or None
    log.warning(event, alert=alert, lead=lead_id, sender=reply.sender, word=word, **fields)
    AGENT_ACTIONS.labels("reply", reply.word or "none", outcome).inc()
    _ignored(engine, msg_id, lead_id, alert, reply.sender, why, word=word)


def _ignored(engine: Engine, msg_id: int, lead_id: int | None, alert: str, sender: str,
             why: str, **more: object) -> None:
    """A reply_ignored event: which alert was answered, by whom, and why nothing was done."""
    _record(engine, "reply_ignored", msg_id, lead_id, alert=alert, sender=sender, **more, why=why)


def _record(engine: Engine, kind: str, msg_id: int, lead_id: int | None, **data: object) -> None:
    with session_scope(engine) as session:
        session.add(Event(kind=kind, message_pk=msg_id, lead_id=lead_id, data=data))


def handle(settings: Settings, engine: Engine, msg_id: int, raw: bytes) -> str | None:
    """Act on a reply to an alert; what happened, or None when the message is no such reply."""
    reply = recognize(raw)
    if reply is None:
        return None
    rows = _alerts(engine, reply.keys)
    if not rows:
        return None  # looks like ours but is not in our outbox: another install's; read it
    secret = settings.reply_secret()
    if secret is None:
        first = rows[0]
        _ignored(engine, msg_id, first.lead_id, first.idempotency_key, reply.sender,
                 "reply actions are off")
        return f"reply to alert {first.idempotency_key}: reply actions are off, nothing done"
    # Only a reference whose tag verifies for that alert's agent counts: sequential keys
    # (offer-6, assignment-3) are easy to guess, the tag is not.
    row = next((r for r in rows if reply.tags.get(r.idempotency_key) and reply_tag_ok(
        secret, reply.tags[r.idempotency_key], r.lead_id, r.recipient, r.idempotency_key)), None)
    if row is None:
        cited = ", ".join(r.idempotency_key for r in rows)
        why = "its reference to the alert carries no valid tag (forged or guessed)"
        _refused(engine, msg_id, rows[0].lead_id, reply, cited, why, "forged",
                 "reply to an alert with a forged reference: ignored")
        return f"reply to alert {cited}: {why}; ignored"
    key, lead_id = row.idempotency_key, row.lead_id
    agent = settings.find_agent(row.recipient)
    sender = settings.find_agent(reply.sender) if reply.sender else None
    word = (reply.word or "").upper()
    if agent is None or sender is None or sender.email != agent.email:
        why = f"from {reply.sender or 'no sender'}, not from {row.recipient}, the alert's agent"
        _refused(engine, msg_id, lead_id, reply, key, why, "wrong_sender",
                 "reply to an alert from another address: ignored", agent=row.recipient)
        return f"reply to alert {key} {why}: ignored"
    if settings.followup.trusted_authserv_ids:
        # The operator's MX vouches for agents' mail (or the agent logged in to send it): an
        # answer must be vouched for as well, not only cite the tag from the agent's From.
        with Session(engine) as session:
            stored = session.get(Message, msg_id)
        headers = message_from_bytes(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0],
                                     policy=policy.compat32)
        via, refused = vouched_by(settings, stored, headers, agent, [reply.sender])
        if via is None:
            _refused(engine, msg_id, lead_id, reply, key, str(refused), "unauthenticated",
                     "reply to an alert not vouched for: ignored")
            return f"reply to alert {key}: {refused}; ignored"
    if reply.automatic:
        _ignored(engine, msg_id, lead_id, key, reply.sender, "automatic reply")
        return f"automatic reply to alert {key}: ignored"
    if reply.word is None or lead_id is None:
        _ignored(engine, msg_id, lead_id, key, reply.sender,
                 "no CLAIM, ACCEPT, DECLINE or ASSIGN as first word")
        log.info("reply to an alert without an action word", alert=key, lead=lead_id)
        return f"reply to alert {key} without CLAIM, ACCEPT, DECLINE or ASSIGN: nothing done"

    if reply.word == "assign":
        target = _target(settings, reply.argument)
        result = actions.assign(engine, settings, lead_id, target, by=agent.email)
    else:
        result = actions.act(engine, settings, lead_id, agent.email, reply.word)
    AGENT_ACTIONS.labels("reply", reply.word, result.status).inc()
    log.info(
        "reply acted on",
        alert=key,
        lead=lead_id,
        agent=agent.email,
        action=reply.word,
        result=result.status,
    )
    with session_scope(engine) as session:
        session.add(
            Event(
                kind="reply_action",
                message_pk=msg_id,
                lead_id=lead_id,
                data={
                    "alert": key,
                    "agent": agent.email,
                    "action": reply.word,
                    "result": result.status,
                    "holder": result.holder,
                },
            )
        )
        answer_key = f"reply-{msg_id}"
        if session.exec(select(Outbox.id).where(Outbox.idempotency_key == answer_key)).first():
            return f"reply {word} to alert {key}: {result.status} (answered before)"
        lead = session.get(Lead, lead_id)
        if lead is not None:
            mine = lead.agent == agent.email
            context = {
                "agent": agent,
                "word": word,
                "message": result.message,
                "lead": lead_view(lead),
                "mine": mine,
                "result": result.status,
            }
            rendered = render.render(
                "answer",
                context,
                settings.notify.templates,
                source=lead.source,
                parts=("subject", "text", "html"),
            )
            row = enqueue_email(session, settings, agent, rendered, answer_key, lead_id)
            row.payload = {**row.payload, "in_reply_to": reply.message_id}
    return f"reply {word} to alert {key} by {agent.email}: {result.status}"


def _target(settings: Settings, text: str) -> str:
    """ASSIGN's argument: an address, an alias, or an agent's name (first word is enough)."""
    text = text.strip().strip("<>").strip()
    if settings.find_agent(text):
        return text
    low = text.lower()
    for agent in settings.agents:
        name = agent.name.lower()
        if low and (name == low or name.split()[0] == low.split()[0]):
            return agent.email
    return text
