"""Text helpers shared by parsers: HTML to text, and "Label: value" pairs."""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

_BLOCK = {
    "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section",
    "article", "header", "footer", "ul", "ol", "dl", "dt", "dd", "blockquote", "hr", "title",
}
_SKIP = {"style", "script", "head"}


class _Renderer(HTMLParser):
    """Renders HTML to plain text: blocks become lines, table cells in a row join with ': '."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.cells_in_row = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "tr":
            self.cells_in_row = 0
            self.out.append("\n")
        elif tag in ("td", "th"):
            if self.cells_in_row:
                self.out.append(" :: ")
            self.cells_in_row += 1
        elif tag in _BLOCK:
            self.out.append("\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith("mailto:"):
                self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Render an HTML body as readable text (one block per line, &nbsp; as a space)."""
    renderer = _Renderer()
    try:
        renderer.feed(html)
        renderer.close()
    except Exception:  # html.parser is lenient; this is a last resort for garbage
        return normalize_space(re.sub(r"<[^>]+>", " ", html_lib.unescape(html)))
    text = "".join(renderer.out)
    # A cell separator " :: " right after a label that already ends in ":" is noise.
    text = re.sub(r":\s*::\s*", ": ", text)
    text = text.replace(" :: ", ": ")
    return normalize_space(text)


def normalize_space(text: str) -> str:
    """Collapse spaces (incl. non-breaking) inside lines, trim lines, squeeze blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\u200b", "")
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


_LABEL_LINE = re.compile(r"^\s*[*\-•]?\s*([A-Za-z][A-Za-z0-9 /&'().#_-]{0,40}?)\s*[:=]\s*(.*)$")


def label_values(text: str) -> list[tuple[str, str]]:
    """Pairs from "Label: value" lines, labels lower-cased; a label alone on a line takes the
    next non-empty line as its value (the layout of many HTML forms)."""
    pairs: list[tuple[str, str]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _LABEL_LINE.match(lines[i])
        if m and not re.match(r"^\s*(https?|mailto|tel)\s*:", lines[i], re.I):
            label = re.sub(r"\s+", " ", m.group(1)).strip().lower()
            value = m.group(2).strip()
            if not value and i + 1 < len(lines) and lines[i + 1].strip():
                nxt = lines[i + 1]
                if not _LABEL_LINE.match(nxt):
                    value = nxt.strip()
                    i += 1
            pairs.append((label, value))
        i += 1
    return pairs


def first_value(pairs: list[tuple[str, str]], *labels: str) -> str | None:
    """The first non-empty value whose label is one of `labels` (exact, lower-case)."""
    wanted = set(labels)
    for label, value in pairs:
        if label in wanted and value:
            return value
    return None
