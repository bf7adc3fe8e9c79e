"""`leadmail sources learn`: a draft source rule from 1-3 sample mails of one source.

[match] takes the sender, domain and subject shape the samples share; [extract] the label of
each row whose value looks like a field (an email, a phone, a price, a street address, a
name, a message), in every sample, whatever the label says: a label no vocabulary knows
("Ring me at", "Dwelling of interest") is as good as "Phone"; [set] names the source. Each line
carries a comment saying what was seen. Pure: no database, no files (the CLI writes them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from leadmail import normalize
from leadmail.errors import ConfigError, ConfigErrors
from leadmail.parsers.base import Mail
from leadmail.parsers.mime import parse_mail
from leadmail.parsers.nlp import street_spans
from leadmail.parsers.text import label_key
from leadmail.rules import EXTRACT_FIELDS
from leadmail.scripts.view import MailView

MAX_SAMPLES = 3
MAX_BYTES = 2 * 1024 * 1024  # a sample larger than this is no notification
MAX_VALUE = 2000  # characters of a value looked at

_PRICE = re.compile(r"(?:[$€£]\s?\d[\d,.\s]{0,14}\d(?:\s?[kKmM])?"
                    r"|\d[\d,.]{2,14}\s?(?:USD|EUR|GBP))")
_NAME_WORD = re.compile(r"^[A-ZÀ-Þ][a-zà-ÿ'’-]{1,30}$|^[A-ZÀ-Þ]\.$")
_DATE = re.compile(r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})\b|\b\d{1,2}:\d{2}\b")
_SLUG = re.compile(r"[^a-z0-9]+")


def looks_like(value: str) -> str | None:
    """The field a value has the shape of, or None."""
    value = value.strip()[:MAX_VALUE]
    if not value:
        return None
    if normalize.email(value) == value.lower():
        return "email"
    if _PRICE.fullmatch(value):
        return "price"
    if any(start == 0 for start, _ in street_spans(value, limit=1)):
        return "address"
    digits = sum(c.isdigit() for c in value)
    if 7 <= digits <= 15 and re.fullmatch(r"[+()\d\s.\-]{7,25}", value) and normalize.phone(value):
        return "phone"
    if _DATE.search(value) and len(value) < 40:
        return "timestamp"
    words = value.split()
    if 2 <= len(words) <= 4 and all(_NAME_WORD.match(w) for w in words):
        return "name"
    if len(words) == 1 and _NAME_WORD.match(value):
        return "word"
    if len(words) >= 6 and not digits > len(value) / 4:
        return "message"
    return None


@dataclass
class Learned:
    """The draft rule: its file name, text, and what it extracts by label."""

    name: str
    source: str
    text: str
    labels: dict[str, str] = field(default_factory=dict)  # field -> label
    notes: list[str] = field(default_factory=list)


def slug(name: str) -> str:
    """A rule file name for a source name: "Acme Homes" -> "acme-homes"."""
    return _SLUG.sub("-", name.lower()).strip("-")[:60] or "source"


def _q(value: str) -> str:
    """A TOML basic string."""
    return json.dumps(value, ensure_ascii=False)


def _short(value: str) -> str:
    return value if len(value) <= 24 else value[:23] + "…"


def _comment(text: str) -> str:
    return re.sub(r"[\r\n]+", " ", text)[:160]


def _original_label(mail: Mail, key: str) -> str:
    """The label as the mail spells it ("Ring me at"), for the key the pairs use."""
    for line in mail.text.splitlines()[:2000]:
        head, sep, _ = line.partition(":")
        if sep and 0 < len(head.strip()) <= 80 and label_key(head) == key:
            return head.strip()
    return key


def _common_prefix(subjects: list[str]) -> str:
    """The words every subject starts with, up to the first that holds a digit."""
    split = [s.split() for s in subjects]
    out: list[str] = []
    for words in zip(*split, strict=False):
        if len(set(words)) != 1 or any(c.isdigit() for c in words[0]) or words[0][0] in "#\"'([":
            break
        out.append(words[0])
    return " ".join(out)[:80]


def learn(raws: list[bytes], name: str | None = None) -> Learned:
    """The draft rule for these samples (1 to 3 mails of one source)."""
    if not 1 <= len(raws) <= MAX_SAMPLES:
        raise ConfigErrors([ConfigError("sources learn", f"give 1 to {MAX_SAMPLES} sample mails "
                                        f"of one source (got {len(raws)})")])
    for i, raw in enumerate(raws):
        if len(raw) > MAX_BYTES:
            raise ConfigErrors([ConfigError(f"sample {i + 1}", f"larger than {MAX_BYTES} bytes: "
                                            "not a lead notification")])
    mails = [parse_mail(raw) for raw in raws]
    n = len(mails)
    lines: list[str] = []
    notes: list[str] = []

    senders = sorted({m.from_addr for m in mails if m.from_addr})
    domains = sorted({a.rpartition("@")[2] for a in senders})
    from_line = "# no common sender: add [match] from by hand"
    if len(senders) == 1:
        from_line = f"from = [{_q('*@' + domains[0])}]   # every sample is from {senders[0]}"
    elif len(domains) == 1:
        from_line = (f"from = [{_q('*@' + domains[0])}]   # {n} samples from {len(senders)} "
                     f"addresses at {domains[0]}")
    elif not senders:
        notes.append("the samples have no sender address")
    if name is None:
        shown = {m.from_name.strip() for m in mails if m.from_name.strip()}
        if len(shown) == 1:
            name = shown.pop()
        elif domains:
            parts = domains[0].split(".")
            name = (parts[-2] if len(parts) >= 2 else parts[0]).replace("-", " ").title()
        else:
            name = "New source"
    name = name.strip()[:100] or "New source"

    prefix = _common_prefix([m.subject for m in mails])
    if prefix and len(prefix) >= 4:
        pattern = "^" + re.escape(prefix).replace("\\ ", " ")
        subject_line = f"subject = {_q(pattern)}   # every subject starts with {_q(prefix)}"
    else:
        subject_line = "# the subjects share no leading words: no subject test"

    # Every sample's labelled rows: canonical key -> (value, the field its value looks like).
    tables: list[dict[str, tuple[str, str | None]]] = []
    for mail in mails:
        rows: dict[str, tuple[str, str | None]] = {}
        for key, value in MailView(mail).tables[:500]:
            rows.setdefault(key, (value, looks_like(value)))
        tables.append(rows)
    common = [k for k in tables[0] if all(k in t for t in tables[1:])]
    chosen: dict[str, tuple[str, str]] = {}  # field -> (key, comment)

    def kind_of(key: str) -> str | None:
        kinds = {t[key][1] for t in tables}
        return kinds.pop() if len(kinds) == 1 else None

    words = [k for k in common if kind_of(k) == "word"]
    for key in common:
        kind = kind_of(key)
        values = [t[key][0] for t in tables]
        if kind is None or kind in ("word", "timestamp"):
            if kind == "timestamp":
                notes.append(f"{_original_label(mails[0], key)!r} holds a time "
                             f"({values[0][:40]!r}): the provider's clock")
            continue
        if n > 1 and len(set(values)) == 1:
            notes.append(f"{_original_label(mails[0], key)!r} is the same in every sample "
                         f"({values[0][:40]!r}): the provider's own, not the lead's")
            continue
        target = {"email": "email", "phone": "phone", "price": "price", "name": "full_name",
                  "message": "message"}.get(kind)
        if kind == "address":
            target = "property_address" if "property_address" not in chosen else "address"
        if target is None or target in chosen or target not in EXTRACT_FIELDS:
            continue
        seen = ", ".join(_q(_short(v)) for v in values)
        chosen[target] = (key, f"{kind_name(kind)} in {n}/{n} samples: {seen}")
    if "full_name" not in chosen and len(words) >= 2:
        for target, key in zip(("first_name", "last_name"), words, strict=False):
            seen = ", ".join(_q(_short(t[key][0])) for t in tables)
            which = "first" if target == "first_name" else "second"
            chosen[target] = (key, f"one capitalized word, the {which} of two, in {n}/{n} "
                              f"samples: {seen}")

    labels = {f: _original_label(mails[0], key) for f, (key, _) in chosen.items()}
    lines.append(f"# Draft rule learned from {n} sample mail(s) by `leadmail sources learn`.")
    lines.append("# Check every line, then the golden samples beside it, and reload (SIGHUP).")
    lines.append(f"name = {_q(slug(name))}")
    if from_line.startswith("#") and subject_line.startswith("#"):
        # A rule without a condition matches every mail: off until [match] says something.
        lines.append("enabled = false   # nothing to match on was found: fill in [match] first")
    lines.append(f"source = {_q(name)}   # the Lead Source of every lead this rule matches")
    lines.append("")
    lines.append("[match]")
    lines.append(from_line)
    lines.append(subject_line)
    lines.append("")
    lines.append("[extract]")
    order = ["full_name", "first_name", "last_name", "email", "phone", "property_address",
             "address", "price", "message"]
    for target in order:
        if target in chosen:
            lines.append(f"{target} = {{ label = {_q(labels[target])} }}   "
                         f"# {_comment(chosen[target][1])}")
    regexes = {f: layout_regex(mails, f) for f in _TOKENS if f not in chosen}
    for target, found in regexes.items():
        if found is not None:
            pattern, seen = found
            lines.append(f"{target} = {{ regex = {_q(pattern)} }}   # {_comment(seen)}")
    missing = [f for f in ("full_name", "email", "phone", "property_address", "price", "message")
               if f not in chosen and regexes.get(f) is None
               and not (f == "full_name" and "first_name" in chosen)]
    if missing:
        lines.append(f"# not found under one label in every sample: {', '.join(missing)}")
    for note in notes:
        lines.append(f"# {_comment(note)}")
    lines.append("")
    lines.append("[set]")
    lines.append(f"source = {_q(name)}   # named by --name, else the sender's display name")
    return Learned(slug(name), name, "\n".join(lines) + "\n", labels, notes)


# Values found inside a line (not under a label), by field: what a layout regex captures.
_TOKENS = {
    "email": r"[^\s@<>()\[\],;:\"']{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}",
    "phone": r"\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,4}",
    "price": r"[$€£] ?\d{1,3}(?:[,.]\d{3}){0,4}",
}
_PREFIX_WORDS = 6  # a layout regex anchors on at most this many words before the value


def layout_regex(mails: list[Mail], target: str) -> tuple[str, str] | None:
    """A regex for `target` where every sample has its value after the same words on a line
    ("Call back on 303 555 0142 any time"): (the regex, what it saw), or None."""
    token = re.compile(_TOKENS[target])
    per_mail: list[dict[str, str]] = []  # words before a value -> the value
    for mail in mails:
        found: dict[str, str] = {}
        for line in mail.text.splitlines()[:2000]:
            line = line[:500]
            for m in token.finditer(line):
                value = m.group(0).strip()
                if looks_like(value) != ("address" if target == "property_address" else target):
                    continue
                words = line[:m.start()].split()[-_PREFIX_WORDS:]
                if words and not any(c.isdigit() for c in " ".join(words)):
                    found.setdefault(" ".join(words), value)
        per_mail.append(found)
    common = [p for p in per_mail[0] if all(p in other for other in per_mail[1:])]
    if len(mails) > 1:  # a value the same in every sample is the provider's, not the lead's
        common = [p for p in common if len({m[p] for m in per_mail}) > 1]
    if not common:
        return None
    prefix = max(common, key=len)
    pattern = r"\s+".join(re.escape(w) for w in prefix.split()) + r"\s*(" + _TOKENS[target] + ")"
    seen = ", ".join(_q(_short(m[prefix])) for m in per_mail)
    return pattern, (f"{kind_name(target)} after {_q(prefix)} in {len(mails)}/{len(mails)} "
                     f"samples: {seen}")


def kind_name(kind: str) -> str:
    """How a comment names a value's shape."""
    return {"email": "an email", "phone": "a phone", "price": "a price",
            "address": "a street address", "name": "a person's name",
            "message": "a message"}.get(kind, kind)


def expected(public: dict[str, Any], learned: Learned) -> dict[str, Any]:
    """A golden sample's expected values: what the draft reads, for the fields it labels (a
    name by its parts), the source, and the segment."""
    keys = ["is_lead", "source"]
    for target in learned.labels:
        keys += ["first_name", "last_name"] if target == "full_name" else [target]
    keys.append("segment")
    return {k: public.get(k) for k in dict.fromkeys(keys)}
