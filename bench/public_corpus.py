"""Per-field accuracy of `pipeline.read` on the shared public corpus (ADF/LeadList XML, inbound
webhook JSON), read in place: the corpus is not copied into the project.

    python bench/public_corpus.py [/work/shared/corpus/public] [-v]

Each sample becomes a message first: XML as the body of a plain mail, webhook JSON rebuilt from
its headers and text/html parts. Expected values are normalized as leadmail stores them (E.164
phones, integer prices, whitespace-collapsed messages); `property` is compared with
property_address; `source` with the canonical name the corpus's provider maps to.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import defaultdict
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

from leadmail import config, normalize, pipeline
from leadmail.errors import Quarantine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path("/work/shared/corpus/public")
FIELDS = ("source", "first_name", "last_name", "email", "phone", "address", "property", "price",
          "message")
_KEEP = {"from", "to", "cc", "reply-to", "subject", "date", "message-id", "sender",
         "list-unsubscribe", "list-id", "precedence", "auto-submitted"}


def canonical_source(expected: str) -> str:
    """The corpus names providers as a person would; leadmail's canonical names differ."""
    if expected.startswith("ADF") or "CarPoint" in expected:
        return "ADF"  # every ADF document is source "ADF", whoever the vendor or provider is
    if expected.startswith("iHomefinder"):
        return "iHomefinder"
    return expected  # rental portals (Zumper, PadMapper, Yelp, ABODO) have no built-in parser


def _header_values(value: Any) -> list[str]:
    if isinstance(value, dict):
        if "text" in value:
            return [str(value["text"])]
        return [str(v) for v in value.values()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def to_message(path: Path) -> bytes:
    """One corpus sample as raw RFC 5322 bytes."""
    if path.suffix == ".xml":
        msg: Message = MIMEText(path.read_text(encoding="utf-8", errors="replace"), "plain",
                                "utf-8")
        msg["From"] = "Lead Feed <leads-noreply@feeds.example>"
        msg["To"] = "leads@brokerage.example"
        msg["Subject"] = f"Lead: {path.stem}"
        return msg.as_bytes()
    data = json.loads(path.read_text(encoding="utf-8"))
    raw = data.get("rawMessage") or data.get("msg") or {}
    headers: dict[str, list[str]] = {}
    for key, value in (raw.get("headers") or data.get("headers") or {}).items():
        if key.lower() in _KEEP:
            headers[key.lower()] = _header_values(value)
    if raw:
        name, addr = raw.get("from_name") or "", raw.get("from_email") or data.get("from") or ""
        headers["from"] = [f'"{name}" <{addr}>' if name else addr]
        if raw.get("replyTo"):
            headers["reply-to"] = _header_values(raw["replyTo"])
        headers.setdefault("subject", [raw.get("subject") or data.get("subject") or ""])
    text = raw.get("text") or data.get("text") or data.get("plain") or ""
    html = raw.get("html") or data.get("html") or ""
    msg = MIMEMultipart("alternative")
    if text:
        msg.attach(MIMEText(text, "plain", "utf-8"))
    if html:
        msg.attach(MIMEText(html, "html", "utf-8"))
    headers.setdefault("to", ["leads@brokerage.example"])
    for key, values in headers.items():
        for value in values:
            msg[key.title()] = re.sub(r"[\r\n]+\s*", " ", value)
    return msg.as_bytes()


def expected_value(field: str, value: Any, region: str) -> Any:
    """An expected value the way leadmail stores it."""
    if field == "phone":
        return normalize.phone(str(value), region)
    if field == "price":
        return normalize.price(value)
    if field == "email":
        return normalize.email(str(value))
    if field == "source":
        return canonical_source(str(value))
    return value


def same(field: str, want: Any, got: Any) -> bool:
    """Equal after collapsing whitespace (and case, for free-text fields)."""
    if isinstance(want, str) and isinstance(got, str):
        a, b = (re.sub(r"\s+", " ", x).strip() for x in (want, got))
        if field in ("address", "property", "message"):
            a, b = a.lower(), b.lower()
        return a == b
    return bool(want == got)


def main() -> int:
    """Evaluate every sample with an .expected.json; print per-field accuracy and mismatches."""
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    corpus = Path(args[0]) if args else CORPUS
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    defaults = ROOT / "leadmail" / "defaults"
    env = {"LEADMAIL_RULES_DIR": str(defaults / "rules")}
    settings = config.load(defaults / "demo.toml", env=env)
    rt = pipeline.Runtime.load(settings)
    region = settings.pipeline.default_region
    right: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    misses: list[str] = []
    samples = sorted(p for p in corpus.iterdir()
                     if p.suffix in (".xml", ".json") and not p.name.endswith(".expected.json"))
    for path in samples:
        exp_path = path.with_name(path.stem + ".expected.json")
        if not exp_path.exists():
            continue
        expected = json.loads(exp_path.read_text())
        try:
            got = pipeline.read(to_message(path), rt).public()
        except Quarantine as exc:
            got = {"quarantine": exc.reason}
        got["property"] = got.get("property_address")
        for field in FIELDS:
            if field not in expected:
                continue
            want = expected_value(field, expected[field], region)
            total[field] += 1
            if same(field, want, got.get(field)):
                right[field] += 1
            else:
                misses.append(f"{path.name}: {field}: expected {want!r}, got {got.get(field)!r}")
    print(f"{len(samples)} samples in {corpus}")
    print(f"{'field':12} {'right':>6} {'total':>6} {'accuracy':>9}")
    for field in FIELDS:
        if total[field]:
            print(f"{field:12} {right[field]:>6} {total[field]:>6} "
                  f"{right[field] / total[field]:>8.1%}")
    r, t = sum(right.values()), sum(total.values())
    print(f"{'all':12} {r:>6} {t:>6} {r / t:>8.1%}")
    for line in misses if verbose else []:
        print("MISS", line[:300])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
