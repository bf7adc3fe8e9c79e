"""SMTP intake (aiosmtpd): check recipients, store the raw message, then answer 250.

Intake does no parsing: it stores and replies. 250 is sent only after the message is
committed; if the store fails the sender gets 451 and keeps the message (RFC 5321 4.2.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from leadmail.config import SmtpConfig
from leadmail.store import store_raw

log = structlog.get_logger("leadmail.smtp")

# Replies, with RFC 3463 enhanced status codes.
OK_RCPT = "250 2.1.5 Recipient OK"
REJECT_RCPT = "550 5.1.1 <{}>: recipient not accepted here"
STORE_FAILED = "451 4.3.0 Could not store the message; try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down; try again later"
STORED = "250 2.0.0 Stored as #{}"


class StoreHandler:
    """aiosmtpd handler: only RCPT and DATA hooks; everything else is aiosmtpd's default."""

    def __init__(
        self,
        engine: Engine,
        cfg: SmtpConfig,
        on_stored: Callable[[int], None],
        intake: str = "smtp",
    ) -> None:
        self.engine = engine
        self.cfg = cfg
        self.on_stored = on_stored
        self.intake = intake
        self.stopping = False

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept only configured addresses or domains: never an open relay."""
        if not self.cfg.accepts(address):
            log.info("recipient rejected", rcpt_domain=address.rpartition("@")[2])
            return REJECT_RCPT.format(address)
        envelope.rcpt_tos.append(address)
        return OK_RCPT

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Commit the exact bytes, then 250; 451 when the store is unavailable."""
        if self.stopping:
            return SHUTTING_DOWN
        raw = envelope.original_content or b""
        try:
            msg_id = await asyncio.to_thread(
                store_raw,
                self.engine,
                raw,
                mail_from=envelope.mail_from or "",
                rcpt_to=list(envelope.rcpt_tos),
                intake=self.intake,
            )
        except Exception as exc:
            log.error("store failed; answered 451", error=f"{type(exc).__name__}: {exc}")
            return STORE_FAILED
        log.info("stored", msg=msg_id, size=len(raw))
        self.on_stored(msg_id)
        return STORED.format(msg_id)


def make_server(handler: StoreHandler, cfg: SmtpConfig) -> Callable[[], Any]:
    """A protocol factory for loop.create_server."""
    return lambda: SMTP(
        handler,
        data_size_limit=cfg.max_message_size,
        enable_SMTPUTF8=True,
        ident="leadmail ESMTP",
        timeout=300,
    )
