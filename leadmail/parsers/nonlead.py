"""Mail that is read fine but is no lead: bounces, auto-replies, newsletters, account mail."""

from __future__ import annotations

import re

from leadmail import leadfields
from leadmail.parsers.base import Attachment, Extracted, Mail
from leadmail.parsers.text import Folded

_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"(?i)^(undeliver(ed|able)( mail)?|delivery status notification|mail delivery (failed|"
    r"failure|system)|returned mail|delivery failure|failure notice|non-delivery)")
_AUTO_SUBJECT = re.compile(
    r"(?i)^(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|autoreply|"
    r"away from (my|the) (desk|office)|on vacation)\b")
# A newsletter header set is harmless when the mail is plainly a lead notification.
_LEAD_MARKERS = Folded(
    r"(new lead|new contact|lead from|contact request|wants to tour|requested a tour|"
    r"requesting information|new (form )?submission|form submission|<adf>|is interested in|"
    r"showing request|new inquiry|new referral|lead ads?)")
# A lead notification carries the lead: a labelled contact line or an ADF document. Marketing
# about leads ("5 ways to answer new leads faster") has the words but not this.
_LEAD_DATA = re.compile(
    r"(?im)^\s*(name|full ?name|first ?name|e-?mail( address)?|phone( number)?|mobile|"
    r"client( name)?|contact( name)?)\s*[:=]\s*\S|<adf\b|&lt;adf\b|\"user_column_data\"")
# Account housekeeping a provider's robot sends: never a lead, whatever it says about leads.
_ACCOUNT_SUBJECT = re.compile(
    r"(?i)\b(reset your( \S+){0,3} password|password (reset|change[ds]?)|"
    r"verify your (e-?mail|account)|"
    r"confirm your (e-?mail|account)|verification code|security (alert|code)|new sign-?in|"
    r"sign-?in attempt|two-(step|factor)|your (monthly )?(invoice|receipt|statement|bill)\b|"
    r"payment (received|failed|declined)|subscription (renewal|renewed)|terms of (use|service) "
    r"update|account (update|notice|settings)|"
    # a service's bill and its renewal, a mail the agent sent that bounced, a lead taken away,
    # a site's search-engine report
    r"your [\w+.-]+( [\w+.-]+)? (receipt|invoice|statement|bill)\b|"
    r"subscription (renews|will renew|is renewing)|"
    r"(could not|couldn't|can't|cannot) be delivered|\bto \S+( \S+)? bounced\b|"
    r"reassigned to another (agent|team member|user)|(lead|contact) (was |has been )?removed from|"
    r"^lead reassigned\b|\blead (was )?reassigned:|"
    r"\blead claimed\b|claimed by (another|someone else|a teammate)|"
    r"showing feedback (received|submitted|is in)|^showing feedback\b|new showing feedback|"
    r"system maintenance|scheduled maintenance|planned (outage|maintenance)|"
    # a form service's plan and usage, a provider's survey of the agent
    r"submission limit|of your monthly submissions|reached (your|its) (\w+ )?limit|"
    r"usage (alert|limit|notice|report)|storage (limit|is full|almost full)|"
    r"\b(1|one)[- ]click survey|\bquick survey\b|how likely are you to recommend|"
    r"\bhow did we do\b|"
    r"(weekly|daily|monthly) showing feedback|showing feedback (summary|report)|"
    r"indexing issue|search console|crawl (errors?|issues?)|core web vitals|"
    # the agent's own listings, reviews and paperwork
    r"your listing (is|has|got|was)\b|your (listing|property|advert|ad)\b.{0,80}\b("
    r"is (now )?live|went live|(was|has been|is now) published)|"
    r"listing (is )?(now )?(live|published|syndicated|approved|expired|expiring)|"
    r"listing (views|performance|report)|(weekly|monthly) (listing|performance|"
    r"market) (report|summary)|new review\b|you('ve| have) (a new|received a) review|"
    r"envelope (has been )?(completed|sent|voided)|completed: |document (has been )?signed|"
    r"saved search|new (homes|listings|properties) (for|matching|in)|listing alert|"
    r"price (drop|reduced|change) (alert|on)|homes? you (might|may) like)")
_CALENDAR_SUBJECT = re.compile(r"(?i)^(accepted|declined|tentative(ly accepted)?|canceled event|"
                               r"cancelled event|proposed new time)\s*:")
_ICS_METHOD = re.compile(r"(?im)^METHOD:\s*(REPLY|CANCEL|COUNTER|DECLINECOUNTER)\b")
_ICS_REQUEST = re.compile(r"(?im)^METHOD:\s*REQUEST\b")
# ORGANIZER;CN=Rob Castillo:mailto:rob@example.com (a folded line is unfolded first)
_ICS_ORGANIZER = re.compile(r"(?im)^ORGANIZER[;:][^\n]{0,300}?mailto:([^\s;:]+)")
_ROBOT_LOCAL = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|notify|alerts?|account(s)?|"
    r"security|support|billing|info|service|robot|team|hello|news|feedback|reports?)\b|"
    r"^[a-z0-9]{1,30}[-_.](no[-_.]?reply|do[-_.]?not[-_.]?reply)@", re.I)
_MARKETING_LOCAL = re.compile(r"^(newsletters?|news|marketing|promo(tions?)?|offers|digest)@", re.I)
_MARKETING_DOMAIN = re.compile(
    r"@(e|em|email|news|newsletter|marketing|mktg|promo|info)\.[a-z0-9.-]+$", re.I)


def non_lead_reason(mail: Mail) -> str | None:
    """A short human reason when the mail is automated (a bounce, a complaint, a read receipt,
    an auto-reply, account mail or a newsletter); else None."""
    return (_bounce(mail) or _auto_reply(mail) or _calendar(mail) or _account(mail)
            or _bulk(mail) or _solicitation(mail))


# A pitch to the business itself (search ranking, web design, link building), sent through
# its contact form or to its leads address: no one asking for what the business sells.
_PITCH = Folded(
    r"\b(rank(ing)? (your |you )?(web ?)?site|first page of google|page one of google|"
    r"#1 on google|seo (services?|packages?|audit|agency|experts?|specialists?|team|campaign)|"
    r"search engine optimi[sz]ation|backlinks?|guest posts?|guest posting|"
    r"(web|website) (design|redesign|development) (services|agency|team|company)|"
    r"increase (your )?(website |organic |site )?traffic|free (seo |website |site )?audit|"
    r"white-?hat|(our|affordable) (digital )?marketing (services|agency|packages?)|"
    r"lead generation (services|agency|campaign)|app development services|"
    r"virtual assistant services|domain authority|"
    # a vendor's cold mail: its promise, its call to book, its way out
    r"we help (teams|dealerships|brokerages|agents|businesses|companies|contractors|"
    r"practices|firms|agencies|shops|offices) like yours|page (1|one) (of|on|for) google|"
    r"(ranking|showing up|rank) on page (1|one)|return on ad spend|done-for-you|"
    r"(free )?\d+-point audit|(qualified|exclusive|more) (\w+ )?leads (a|per) month|"
    r"(grab|book) a (time|slot|call) on my calendar|"
    r"(rather not|don't want to|do not want to) hear from me( again)?|"
    r"(dealers|agents|teams|brokerages|businesses|clients|companies|contractors) (that )?we "
    r"work with|\d+%? more (\w+ )?leads|(open to|up for|hop on|jump on) a \d+[- ]minute "
    r"(call|chat))\b")


def _solicitation(mail: Mail) -> str | None:
    """A marketing pitch to the business: two different pitch phrases, so one word about SEO
    in a real inquiry is not enough."""
    text = f"{mail.subject}\n{mail.text[:4000]}".lower()
    found: list[str] = []
    pos = 0
    while len(found) < 2:
        m = _PITCH.search(text[pos:])
        if not m:
            return None
        if m.group(0) not in found:
            found.append(m.group(0))
        pos += m.end()
    return f"solicitation (a pitch to the business: {found[0]!r}, {found[1]!r})"


# What a provider tells an agent about their own account, by kind: reports and summaries,
# bills, the state of their listings, saved searches and market updates, reviews.
_NOTICE_KINDS = {
    "report": re.compile(
        r"(?i)\b(performance|activity|usage|market|listing|traffic) (report|summary|snapshot|"
        r"insights|update)|\b(daily|weekly|monthly|quarterly|annual|year-end) (report|summary|"
        r"recap|digest)\b|\byour \w+( \w+){0,3} (report|summary|recap)\b|\bsee (the )?full report|"
        r"\blisting (views|performance|stats|statistics)\b|\bgot \d+ (views|impressions)\b"),
    "billing": re.compile(
        r"(?i)\b(payment|purchase|order) (receipt|confirmation)|\breceipt (for|from)\b|"
        r"\binvoice (#|no\.?|number)|\btotal (charged|paid|due)\b|\bbilling (period|statement)"),
    "listing status": re.compile(
        r"(?i)\byour listing\b[^.\n]{0,80}?\b(is (now )?(live|active|visible|published)|went live|"
        r"(has been|was) (reviewed|approved|published|syndicated|renewed)|expir)"),
    "saved search": re.compile(
        r"(?i)\bsaved search|\bnew (homes|listings|properties|rentals) (match|for|in)\b|"
        r"\bhomes? (matching|for) your (search|criteria)|\bmarket update\b"),
    "review": re.compile(
        r"(?i)\b(ask|request|leave|write) (\w+ ){0,3}(for )?an? (\w+ )?review\b|\bnew review\b|"
        r"\b\d+ reviews\b|\u2605|\bstar rating|\byour review (helps|will be|of)\b|"
        r"\brate your (agent|realtor|broker|experience|advisor)\b|\breview requests?\b"),
}


def notice_reason(mail: Mail, read: Extracted) -> str | None:
    """A notice a portal sends the agent about their own account (a report, a receipt, a
    listing gone live, a saved search, a review request), told from a lead notification by
    what a lead always has: a person. When the reading of a provider's mail names nobody (no
    name, email or phone), carries no lead words, and the mail speaks of one of the kinds
    above, it is account mail. A person's own mail is never this: its sender is the person."""
    if read.parser == "nlp" or any(getattr(read, f.name, None)
                                   for f in leadfields.having("identity")):
        return None
    head = f"{mail.subject}\n{mail.text[:3000]}"
    if _LEAD_MARKERS.search(head):
        return None
    kind = _notice_kind(head)
    return f"account notice ({kind}; no person named; subject: {mail.subject[:60]})" if kind \
        else None


def _notice_kind(text: str) -> str | None:
    return next((kind for kind, words in _NOTICE_KINDS.items() if words.search(text)), None)


def _calendar(mail: Mail) -> str | None:
    """An answer to a calendar invitation (iCalendar METHOD:REPLY, "Accepted: ..."), or an
    invitation its organizer sent (METHOD:REQUEST) with no lead's data around it: a
    calendar's mail, not a person asking about a property. A portal's tour hold (PUBLISH,
    no organizer) under a lead notification is not this."""
    for att in mail.attachments[:10]:
        ctype = att.content_type.lower()
        if "calendar" in ctype or "ics" in ctype or att.filename.lower().endswith(".ics"):
            ics = att.payload[:20000].decode("utf-8", errors="replace")
            m = _ICS_METHOD.search(ics)
            if m:
                return f"calendar reply (METHOD:{m.group(1).upper()})"
            if _is_invitation(ics, mail) and not _has_lead_data(mail):
                return "calendar invitation (METHOD:REQUEST from its organizer)"
    if _CALENDAR_SUBJECT.match(mail.subject) and (
            "calendar" in mail.text[:6000].lower() or mail.attachments):
        return f"calendar reply (subject: {mail.subject[:60]})"
    return None


def _is_invitation(ics: str, mail: Mail) -> bool:
    """A meeting request whose organizer is the mail's sender."""
    if not _ICS_REQUEST.search(ics):
        return False
    m = _ICS_ORGANIZER.search(re.sub(r"\r?\n[ \t]", "", ics))
    return m is not None and m.group(1).lower() == mail.from_addr.lower()


def _report(mail: Mail) -> str | None:
    """RFC 6522 reports: an ARF complaint (RFC 5965) or a read receipt (RFC 8098) is its own
    reason; any other report (delivery-status) is a bounce."""
    if mail.content_type != "multipart/report":
        return None
    m = re.search(r"report-type=\"?([\w-]+)", mail.header("content-type"), re.I)
    kind = m.group(1).lower() if m else ""
    if kind == "feedback-report":
        feedback = re.search(r"(?im)^feedback-type:\s*([\w-]+)", _part_text(mail))
        detail = f"; {feedback.group(1).lower()}" if feedback else ""
        return f"complaint (ARF feedback report{detail})"
    if kind == "disposition-notification":
        return "read receipt (disposition notification)"
    return f"bounce (multipart/report{'; ' + kind if kind else ''})"


def _part_text(mail: Mail) -> str:
    texts = [mail.text[:4000]]
    texts += [a.payload[:4000].decode("utf-8", errors="replace") for a in mail.attachments[:5]
              if "feedback" in a.content_type or a.content_type.startswith("message/")]
    return "\n".join(texts)


def _bounce(mail: Mail) -> str | None:
    if mail.content_type == "multipart/report":
        return _report(mail)
    if _BOUNCE_SENDER.match(mail.from_addr):
        return f"bounce (from {mail.from_addr})"
    if _BOUNCE_SUBJECT.match(mail.subject):
        return f"bounce (subject: {mail.subject[:60]})"
    return None


def _auto_reply(mail: Mail) -> str | None:
    auto = mail.header("auto-submitted").strip()
    # RFC 3834: anything but "no" is machine-sent; "auto-generated" notifications that are
    # plainly leads (a form or a portal robot) still go through.
    if auto and not auto.lower().startswith("no"):
        if auto.lower().startswith("auto-replied") or not _is_lead_like(mail):
            return f"auto-reply (Auto-Submitted: {auto})"
    for name in ("x-autoreply", "x-autorespond"):
        if mail.header(name).strip():
            return f"auto-reply ({name.title()}: {mail.header(name).strip()})"
    if mail.header("precedence").strip().lower() == "auto_reply":
        return "auto-reply (Precedence: auto_reply)"
    if _AUTO_SUBJECT.match(mail.subject):
        return f"auto-reply (subject: {mail.subject[:60]})"
    return None


# Services that send the agent paperwork and account notices, never a lead.
_SYSTEM_DOMAINS = re.compile(r"@(?:[\w-]+\.)*(docusign\.(?:net|com)|dotloop\.com|echosign\.com|"
                             r"adobesign\.com|hellosign\.com|dropboxsign\.com|skyslope\.com|"
                             r"authentisign\.com|zipforms\.com|transactiondesk\.com)$", re.I)


def _account(mail: Mail) -> str | None:
    robot = _ROBOT_LOCAL.match(mail.from_addr) or _SYSTEM_DOMAINS.search(mail.from_addr)
    subject = _ACCOUNT_SUBJECT.search(mail.subject) or _NOTICE_KINDS["billing"].search(
        mail.subject)
    if not robot or not subject or _has_lead_data(mail):
        return None
    # A robot's receipt is account mail by its subject alone: its invoice number may read as
    # a phone, so the reading need not come out empty (see notice_reason).
    return f"account mail (subject: {mail.subject[:60]})"


def _bulk(mail: Mail) -> str | None:
    """The newsletter headers' reason, unless the mail is plainly a lead all the same."""
    reason = _bulk_headers(mail)
    return None if reason is None or _is_lead_like(mail) else reason


def _bulk_headers(mail: Mail) -> str | None:
    precedence = mail.header("precedence").strip().lower()
    if mail.header("list-unsubscribe") and precedence in ("bulk", "list", "junk"):
        return f"newsletter (List-Unsubscribe, Precedence: {precedence})"
    if mail.header("list-id") and mail.header("list-unsubscribe"):
        return "newsletter (List-Id, List-Unsubscribe)"
    if _MARKETING_LOCAL.match(mail.from_addr) or (
        mail.header("list-unsubscribe") and _MARKETING_DOMAIN.search(mail.from_addr)
    ):
        return f"newsletter (marketing sender {mail.from_addr})"
    return None


def _is_lead_like(mail: Mail) -> bool:
    """Lead words (subject or body) and the lead's data: bulk headers alone do not decide."""
    if any(_lead_document(a) for a in mail.attachments[:20]):
        return True  # a lead document attached under a short text body
    words = _LEAD_MARKERS.search(mail.subject) or _LEAD_MARKERS.search(mail.text[:4000])
    return bool(words) and _has_lead_data(mail)


def _has_lead_data(mail: Mail) -> bool:
    return bool(_LEAD_DATA.search(mail.text[:8000]) or _LEAD_DATA.search(mail.html[:20000])
                or any(_lead_document(a) for a in mail.attachments[:20]))


# An attached lead document (ADF, a LeadList, a JSON form post) is the lead's data.
_DOC_DATA = re.compile(r"(?i)<adf\b|<(\w+:)?(leadlist|lead|prospect|subscriber)\b|"
                       r"\"(e-?mail|phone|telephone)(address)?\"\s*:")


def _lead_document(att: Attachment) -> bool:
    ctype = att.content_type.lower()
    if not ("xml" in ctype or "json" in ctype or att.filename.lower().endswith(
            (".xml", ".adf", ".json"))):
        return False
    return bool(_DOC_DATA.search(att.payload[:8000].decode("utf-8", errors="replace")))
