"""Chat transcripts a service relays (a site's live chat, a messaging inbox): who the visitor
is, and their own words.

A transcript is a run of turns, "Speaker: words" (with or without a "[2:41 PM]" time), by at
least two speakers. The visitor is the speaker the notification names ("Conversation with
Celeste Marchand", "Visitor name: ..."), else the first speaker not marked as staff (an agent,
a bot, the business itself). The visitor's turns joined are the message, and the only place
their email and phone are read from: staff turns carry the business's own numbers. The
listing and its price may come from either side ("Yes, 3907 Amberwood Ln, Houston, TX 77095
is still active at $615,000"), the visitor's side first.

The notification around the transcript (its labelled fields, its heading and footer) is read
as any form is; the transcript lines are replaced by one "Message:" line so that no staff
turn is ever read as a field. Every pattern runs on one line at a time.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from leadmail.parsers import fields as engine
from leadmail.parsers.base import Extracted, Mail, ParseContext
from leadmail.parsers.common import _ANY_VEHICLE, _VEHICLE, is_notifier, known_label, label_key
from leadmail.parsers.text import Folded

MAX_LINES = 400  # lines of a notification looked at for turns
MIN_TURNS = 3

# "[2:41 PM] Fiona Gallagher: Is the condo ...", "Sharon (Agent): Hi there!", "10:02 - Ana: ..."
_TURN = re.compile(
    r"^\s*(?:[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?[\])]?\s*[-–]?\s*)?"
    r"([^\W\d_][\w'’.-]*(?: [\w'’.&-]+){0,4}(?: ?\([^()\n]{1,40}\))?)\s?:\s+(\S.*)$")
_STAFF = Folded(r"\b(agent|bot|operator|system|admin|support|team|assistant|concierge|staff|"
                r"representative|rep|advisor|consultant|sales|office|realty|realtors?|homes|"
                r"properties|group|insurance|motors|dealership|inc|llc)\b")
# A notification's own field ("Visitor email: ...", "Chat started: ..."), never a speaker.
_FIELD_WORD = Folded(r"\b(e-?mail|phone|name|location|ip|page|url|started|ended|date|time|id|"
                     r"city|country|region|browser|device|referr?er|source|rating|duration|"
                     r"tags?|department|website|address|number|status|subject)\b")
# The chat system's own lines: "Visitor left the chat at 9:44 PM", "Chat ended by visitor."
_EVENT = Folded(r"\b(left the (chat|conversation)|joined the (chat|conversation)|chat (ended|"
                r"started|closed|transferred)|"
                r"(ended|closed|started|transferred) (by|the chat|to))\b")
# A speaker's role, no one's name: the visitor's words are theirs, the name is unknown.
_ROLE = Folded(r"^(visitor|guest|customer|client|user|anonymous|prospect|lead|contact|"
               r"website visitor|web visitor|visitor \d+|guest \d+)$")
_LINK = re.compile(r"(?i)^(?:https?://|www\.)\S+$")
_VISITOR_LABEL = Folded(r"\b(visitor|customer|guest|contact|lead|client)\b")
_NAMED = re.compile(
    r"(?i)\b(?:conversation|chat(?: transcript)?|transcript|message|messages)\s+(?:with|from)\s+"
    r"([^\W\d_][\w'’.-]*(?: [^\W\d_][\w'’.-]*){0,3})")


@dataclass(frozen=True)
class Turn:
    """One "Speaker: words" line (with the lines it wraps onto) and where it starts."""

    speaker: str
    words: str
    line: int


@dataclass(frozen=True)
class Transcript:
    """The turns of one conversation, whose visitor is the lead, and the lines they span."""

    turns: tuple[Turn, ...]
    visitor: str
    first_line: int
    last_line: int

    def said_by_visitor(self) -> list[str]:
        return [t.words for t in self.turns if t.speaker == self.visitor]

    def said_by_staff(self) -> list[str]:
        return [t.words for t in self.turns if t.speaker != self.visitor]


# A speaker's heading with its time, the words on the lines under it ("Lena Fischer, 2:14 PM:"
# / "Operator (bot), 2:15 PM:"): how some inboxes print a conversation.
# Whitespace never crosses a line, so one pattern matches a line or searches a whole text.
_HEADED = re.compile(
    r"(?m)^[^\S\n]*([^\W\d_][\w'’.-]*(?: [\w'’.&-]+){0,4}(?: ?\([^()\n]{1,40}\))?),?"
    r"[^\S\n]+(?:at[^\S\n]+)?\d{1,2}:\d{2}(?:[^\S\n]?[AaPp]\.?[Mm]\.?)?[^\S\n]*:?[^\S\n]*$")


def _turns(lines: list[str]) -> tuple[list[Turn], int]:
    """The turns of the lines, and how many lines are a speaker's heading with its time."""
    out: list[Turn] = []
    headed = 0
    for i, line in enumerate(lines[:MAX_LINES]):
        h = _HEADED.match(line[:engine.LINE_MAX])
        if h:
            headed += 1
        if h and not _FIELD_WORD.search(_base(h.group(1))):
            out.append(Turn(h.group(1).strip(), "", i))
            continue
        m = _TURN.match(line[:engine.LINE_MAX])
        if not m:
            if (out and line.strip() and out[-1].line == i - 1 and not _label_like(line)
                    and not _EVENT.search(line[:engine.LINE_MAX])
                    and not any(line.lstrip().startswith(t.speaker) for t in out)):
                # a turn that wraps onto the next line
                last = out[-1]
                out[-1] = Turn(last.speaker, f"{last.words} {line.strip()}".strip(), i)
            continue
        speaker = _TIME_AFTER.sub("", m.group(1)).strip()  # "Samira Haddad (10:58:02)"
        role = _ROLE.search(_base(speaker)) is not None  # "Visitor: hi is the house ..."
        if (not role and (_label_like(line) or known_label(label_key(speaker)))
                or _FIELD_WORD.search(_base(speaker)) or _LINK.match(m.group(2))):
            continue  # "Visitor email: ...", "Page: ...": the notification's own fields
        out.append(Turn(speaker, m.group(2).strip(), i))
    return out, headed


# The time a turn was said, after the speaker's name: one speaker, whatever the time.
_TIME_AFTER = re.compile(r"\s*\(\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp]\.?[Mm]\.?)?\)\s*$")


def _label_like(line: str) -> bool:
    m = re.match(r"^\s*([^:]{1,60}?)\s*:", line)
    return m is not None and known_label(label_key(m.group(1)))


def _base(speaker: str) -> str:
    return re.sub(r"\s*\([^()]*\)\s*$", "", speaker).strip()


# A cheap first look: the same "Speaker:" opening two lines or more.
_OPENING = re.compile(r"(?m)^[ \t]*(?:[\[(]?\d{1,2}:\d{2}[^\]\n)]{0,8}[\])]?[ \t]*[-–]?[ \t]*)?"
                      r"([^\W\d_][^:(\n]{0,50}?)[ \t]*(?:\([^()\n]{0,40}\))?:[ \t]+\S")


def find(mail: Mail) -> Transcript | None:
    """The chat transcript in a service's notification, or None."""
    if not is_notifier(mail):
        return None
    return _find(mail.text, mail.subject, mail.from_name,
                 tuple(n.strip().lower() for n, _ in mail.to))


@lru_cache(maxsize=8)  # claims() and parse() ask about the same mail
def _find(text: str, subject: str, from_name: str, to_names: tuple[str, ...]) -> Transcript | None:
    openings = Counter(_OPENING.findall(text[:20000]))
    talk = len(openings) >= 2 and max(openings.values()) >= 2
    if not talk and not _HEADED.search(text):
        return None  # no speaker speaks twice, and no turn is headed: no conversation
    lines = text.split("\n")
    turns, headed = _turns(lines)
    if headed < 2 and not talk:
        return None
    turns = [t for t in turns if t.words]
    speakers = {t.speaker for t in turns}
    if len(turns) < (2 if headed >= 2 else MIN_TURNS) or len(speakers) < 2:
        return None
    # A conversation goes back and forth: someone speaks again after another has (A, B, A).
    # A form's rows ("Property type: House") name each label once; turns headed by their
    # times are a conversation however short.
    changes = sum(1 for a, b in zip(turns, turns[1:], strict=False) if a.speaker != b.speaker)
    again = len(turns) - len(speakers)
    if headed < 2 and (changes < 2 or again < 1 or len(speakers) > max(4, len(turns) // 2)):
        return None
    turns = [t for t in turns if sum(u.speaker == t.speaker for u in turns) > 1
             or t.line > turns[0].line]
    head = "\n".join([subject, *lines[:turns[0].line]])
    named = None
    m = _NAMED.search(subject) or _NAMED.search(head[:1500])
    if m:
        named = m.group(1).strip()
    for line in lines[:turns[0].line]:
        lm = re.match(r"^\s*([^:]{1,40}?)\s*:\s*(\S.*)$", line)
        if lm and _VISITOR_LABEL.search(lm.group(1)) and "name" in lm.group(1).lower():
            named = lm.group(2).strip()
    business = {from_name.strip().lower(), *to_names}
    visitor = None
    if named:
        visitor = next((s for s in _ordered(turns) if _base(s).lower() == named.lower()), None)
    if visitor is None:
        visitor = next((s for s in _ordered(turns)
                        if not _STAFF.search(s) and _base(s).lower() not in business
                        and _base(s).lower() not in head.lower().split(" - ")[-1:]), None)
    if visitor is None:
        return None
    return Transcript(tuple(turns), visitor, turns[0].line, turns[-1].line)


def _ordered(turns: list[Turn]) -> list[str]:
    seen: list[str] = []
    for t in turns:
        if t.speaker not in seen:
            seen.append(t.speaker)
    return seen


def without_turns(mail: Mail, found: Transcript) -> Mail:
    """The notification with its transcript replaced by the visitor's name and words as
    labelled lines: what a form reader reads without ever seeing a staff turn."""
    lines = mail.text.split("\n")
    words = " ".join(found.said_by_visitor())
    kept = [ln if not found.first_line <= i <= found.last_line
            and not _EVENT.search(ln[:engine.LINE_MAX]) else "" for i, ln in enumerate(lines)]
    kept = kept[:found.first_line] + [ln for ln in kept[found.first_line:found.last_line + 1]
                                      if ln] + kept[found.last_line + 1:]
    name = _base(found.visitor)
    middle = ([] if _ROLE.search(name) else [f"Name: {name}"]) + [f"Message: {words}", ""]
    text = "\n".join(kept[:found.first_line] + middle + kept[found.first_line:])
    return dataclasses.replace(mail, text=text, html="")


def fill_from_staff(ex: Extracted, found: Transcript) -> None:
    """The listing and its price from staff turns, where the visitor's words leave them out or
    give only the street ("3907 Amberwood Ln" -> "3907 Amberwood Ln, Houston, TX 77095")."""
    from leadmail.parsers.nlp import street_spans

    if not ex.property_address:
        # "2021 Harley-Davidson Street Glide. I ride maybe 4000 miles a year": a vehicle the
        # visitor names in a sentence of its own
        for words in found.said_by_visitor():
            for sentence in re.split(r"(?<=[.?!])\s+", words[:engine.LINE_MAX]):
                m = _ANY_VEHICLE.search(sentence.rstrip(".?! "))
                if m:
                    ex.property_address = m.group(1).strip()
                    ex.confidence["property_address"] = 0.5
                    break
            if ex.property_address:
                break
    for words in found.said_by_visitor() + found.said_by_staff():
        for start, _ in street_spans(words[:engine.LINE_MAX], limit=2):
            if _VEHICLE.match(words[start:start + 80]):
                continue  # "2021 Harley-Davidson Street Glide" is no street
            street = engine.street_of(words[start:])
            if street and (not ex.property_address or (
                    street.startswith(str(ex.property_address))
                    and len(street) > len(str(ex.property_address)))):
                ex.property_address = street
                ex.confidence["property_address"] = 0.6
        if not ex.price:
            marked = [m for m in engine.amounts(words[:engine.LINE_MAX])
                      if m.marked and m.value >= 1000]
            if marked:
                ex.price = marked[0].value
                ex.confidence["price"] = 0.5


class TranscriptParser:
    """A service's relay of a chat: the notification read as a form, the transcript as the
    visitor's name and words."""

    name = "Chat"

    def claims(self, mail: Mail) -> bool:
        return find(mail) is not None

    def parse(self, mail: Mail, ctx: ParseContext) -> Extracted:
        from leadmail.parsers.website import WebsiteParser

        found = find(mail)
        if found is None:  # claims() said yes: only a caller that skipped it gets here
            return WebsiteParser().parse(mail, ctx)
        ex = WebsiteParser().parse(without_turns(mail, found), ctx)
        fill_from_staff(ex, found)
        if not (ex.full_name or ex.first_name or ex.last_name or ex.email or ex.phone):
            from leadmail.parsers.nlp import report_no_contact

            report_no_contact(ex)  # a visitor who left without saying who they are
        ex.parser = "transcript"
        ex.trace["transcript"] = {"visitor": found.visitor, "turns": len(found.turns),
                                  "visitor_turns": len(found.said_by_visitor())}
        return ex
