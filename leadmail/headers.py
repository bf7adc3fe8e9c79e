"""Header values leadmail writes (alert Subject, From/To display names, webhook headers).

A value may come from a lead (the name in a Subject) or from the config (an agent's name, a
webhook's headers): whatever it holds, what goes out is one line with no control characters
and no bidirectional-text controls. A right-to-left override (U+202E) would make a Subject
read backwards from that point ("invoice.exe" shown as "exe.eciovni"); CR/LF would start a
header of its own.
"""

from __future__ import annotations

import re
import unicodedata

# Bidi embeddings and overrides (LRE RLE PDF LRO RLO), isolates (LRI RLI FSI PDI), the marks
# (LRM RLM) and the Arabic letter mark.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"]
)
# Control characters (C0, DEL, C1), line and paragraph separators, lone surrogates.
_DROP_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
_SPACE = re.compile(r"\s+")


def header_value(value: object) -> str:
    """`value` as a safe header value: bidi controls removed, CR, LF, tabs and other
    control characters turned into spaces, runs of spaces collapsed, ends trimmed."""
    text = "" if value is None else str(value)
    out = []
    for char in text:
        if char in BIDI_CONTROLS:
            continue
        out.append(" " if unicodedata.category(char) in _DROP_CATEGORIES else char)
    return _SPACE.sub(" ", "".join(out)).strip()
