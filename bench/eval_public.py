#!/usr/bin/env python3
"""Per-field accuracy on a folder of other projects' lead fixtures (not leadmail's own).

    python bench/eval_public.py DIR [--config leadmail.toml] [--json] [--show]

DIR holds, for each sample NAME, the sample itself and NAME.expected.json:
- NAME.xml: an ADF or other XML lead document, as a provider's mail would carry it (the
  document as the body of a mail from the provider);
- NAME.json: an inbound-mail webhook record, CloudMailin style (`headers`, `plain`, `html`)
  or a parsed-message record (`from`, `fromName`, `to`, `subject`, `text`, and `rawMessage`
  or `msg` with `headers`, `html`, `text`, `replyTo`), rebuilt into a message;
- NAME.eml: a message as is.

The expected JSON there is written as the sample shows a value (phone punctuation, "$3,175+",
whitespace), so values are compared after normalizing both sides: phones as E.164, prices as
the first whole number, messages and names without case or whitespace, `property` against
leadmail's property_address and `source` (written as a description, "ADF (vendor: …)") by
containment. The folder is only read: nothing of it is
copied anywhere.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any

from leadmail import config, normalize, pipeline
from leadmail.errors import Quarantine

FIELDS = ("source", "first_name", "last_name", "email", "phone", "address", "property",
          "price", "message")


def _header(value: Any) -> str:
    """A header value from a webhook record: a string, or {value, html, text} objects."""
    if isinstance(value, list):
        return ", ".join(_header(v) for v in value)
    if isinstance(value, dict):
        if "text" in value and isinstance(value["text"], str):
            return value["text"]
        inner = value.get("value")
        if isinstance(inner, list):
            return ", ".join(formataddr((a.get("name") or "", a.get("address") or ""))
                             for a in inner if isinstance(a, dict))
        return str(inner or "")
    return "" if value is None else str(value)


def _message(headers: dict[str, str], text: str, html: str) -> bytes:
    msg = EmailMessage()
    for key in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID"):
        value = next((v for k, v in headers.items() if k.lower() == key.lower() and v), None)
        if value:
            msg[key] = " ".join(str(value).split())
    if "To" not in msg:
        msg["To"] = "leads@brokerage.example"
    if text:
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(html or "(empty)", subtype="html" if html else "plain")
    return msg.as_bytes()


def build(sample: Path) -> bytes:
    """The sample as the raw message a mailbox would have received."""
    if sample.suffix == ".eml":
        return sample.read_bytes()
    if sample.suffix == ".xml":
        return _message({"From": "Lead Provider <leads@provider.example>",
                         "Subject": "New lead"}, sample.read_text(errors="replace"), "")
    data = json.loads(sample.read_text())
    if "plain" in data or "envelope" in data:  # CloudMailin
        headers = {k: _header(v) for k, v in (data.get("headers") or {}).items()}
        return _message(headers, data.get("plain") or "", data.get("html") or "")
    raw = data.get("rawMessage") or data.get("msg") or {}
    headers = {k: _header(v) for k, v in (raw.get("headers") or {}).items()}
    headers.setdefault("from", formataddr((data.get("fromName") or "", data.get("from") or "")))
    headers.setdefault("subject", data.get("subject") or raw.get("subject") or "")
    if raw.get("replyTo"):
        headers["reply-to"] = _header(raw["replyTo"])
    return _message(headers, raw.get("text") or data.get("text") or "", raw.get("html") or "")


def _squash(value: Any) -> str:
    return re.sub(r"\W+", "", str(value or "")).lower()


def right(key: str, want: Any, got: dict[str, Any], region: str) -> bool:
    """One expected value against what leadmail read."""
    if key == "phone":
        return normalize.phone(str(want), region) == got.get("phone")
    if key == "price":
        digits = re.search(r"\d[\d,]*", str(want))
        return digits is not None and int(digits.group(0).replace(",", "")) == got.get("price")
    if key == "email":
        return str(want).lower() == (got.get("email") or "")
    if key in ("property", "source"):  # "ADF (vendor: Acura of Bellevue)" names ADF
        have = _squash(got.get("property_address" if key == "property" else key))
        return bool(have) and (have in _squash(want) or _squash(want) in have)
    if key in ("message", "first_name", "last_name", "address"):
        return _squash(want) == _squash(got.get(key))
    return bool(want == got.get(key))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--config", default=str(Path(__file__).parents[1] / "leadmail" / "defaults"
                                                / "demo.toml"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--show", action="store_true", help="print every mismatch")
    args = ap.parse_args(argv)
    settings = config.load(args.config, env={})
    rt = pipeline.Runtime.load(settings)
    region = settings.pipeline.default_region
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: list[dict[str, Any]] = []
    files = 0
    for expected_path in sorted(args.dir.glob("*.expected.json")):
        name = expected_path.name.removesuffix(".expected.json")
        sample = next((p for p in sorted(args.dir.glob(name + ".*"))
                       if p.suffix in (".xml", ".json", ".eml") and p != expected_path), None)
        if sample is None:
            continue
        files += 1
        expected = json.loads(expected_path.read_text())
        try:
            got = pipeline.read(build(sample), rt).public()
        except Quarantine as exc:
            got = {"quarantine": exc.reason}
        for key in FIELDS:
            if key not in expected:
                continue
            tally[key][1] += 1
            if right(key, expected[key], got, region):
                tally[key][0] += 1
            else:
                misses.append({"file": sample.name, "field": key, "expected": expected[key],
                               "got": got.get("property_address" if key == "property" else key)})
    total = [sum(v[0] for v in tally.values()), sum(v[1] for v in tally.values())]
    if args.json:
        print(json.dumps({"files": files, "fields": {k: {"right": r, "total": t}
                                                     for k, (r, t) in tally.items()},
                          "right": total[0], "total": total[1], "mismatches": misses}, indent=1))
        return 0
    print(f"{files} samples in {args.dir}")
    print(f"{'field':18} {'right':>6} {'total':>6} {'accuracy':>9}")
    for key in FIELDS:
        if key in tally:
            r, t = tally[key]
            print(f"{key:18} {r:>6} {t:>6} {r / t:>8.1%}")
    print(f"{'all':18} {total[0]:>6} {total[1]:>6} {total[0] / max(total[1], 1):>8.1%}")
    if args.show:
        for m in misses:
            print(f"MISMATCH {m['file']}: {m['field']}: expected {m['expected']!r}, "
                  f"got {m['got']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
