"""Alert templates (Jinja2): the built-in ones, overridable by admins per source and strategy.

With `[notify] templates = DIR`, a template NAME is looked up as DIR/source/<source>/NAME,
then DIR/strategy/<strategy>/NAME, then DIR/NAME, then the built-in NAME (<source> in lower
case, spaces as '-'). An override that fails to render is logged and the built-in one used,
so a broken template never holds up a lead.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from leadmail.headers import header_value

TEMPLATES = Path(__file__).parent / "templates"
log = structlog.get_logger("leadmail.notify")


@lru_cache(maxsize=4)
def _env(extra_dir: str | None = None) -> Environment:
    dirs = [extra_dir, str(TEMPLATES)] if extra_dir else [str(TEMPLATES)]
    return Environment(
        loader=FileSystemLoader(dirs),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html.j2"]),
        keep_trailing_newline=True,
    )


_strings = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def slug(value: str | None) -> str:
    """'Realtor.com' -> 'realtor.com', 'Open House' -> 'open-house' (override folder names)."""
    return re.sub(r"[^a-z0-9._-]+", "-", (value or "").strip().lower()).strip("-") or "unknown"


def _candidates(name: str, source: str | None, strategy: str | None) -> list[str]:
    out = []
    if source:
        out.append(f"source/{slug(source)}/{name}")
    if strategy:
        out.append(f"strategy/{slug(strategy)}/{name}")
    return [*out, name]


def _render_set(
    env: Environment,
    names: dict[str, str],
    context: dict[str, Any],
    source: str | None,
    strategy: str | None,
) -> dict[str, str]:
    out = {}
    for part, name in names.items():
        text = env.select_template(_candidates(name, source, strategy)).render(context)
        # One clean line: the subject becomes a header, the short line a chat or text message.
        out[part] = header_value(text) if part in ("subject", "short") else text
    return out


def render(
    kind: str,
    context: dict[str, Any],
    template_dir: str | None = None,
    *,
    source: str | None = None,
    strategy: str | None = None,
    parts: tuple[str, ...] = ("subject", "text", "html", "short"),
) -> dict[str, str]:
    """subject, text, html and short (one line for chat and text messages) of `kind`
    ("alert", "digest" or "answer")."""
    ext = {"subject": "subject", "text": "txt", "html": "html", "short": "short"}
    names = {part: f"{kind}.{ext[part]}.j2" for part in parts}
    if template_dir:
        try:
            return _render_set(_env(template_dir), names, context, source, strategy)
        except Exception as exc:  # an admin's template: fall back, say so, keep the lead moving
            log.error(
                "template override failed; using the built-in template",
                dir=template_dir,
                error=f"{type(exc).__name__}: {exc}",
            )
    return _render_set(_env(None), names, context, source, strategy)


def render_string(template: str, context: dict[str, Any]) -> str:
    """A template from the config (a webhook's form field), sandboxed."""
    return _strings.from_string(template).render(context)


def check(template_dir: str | None) -> list[str]:
    """Syntax errors in the built-in templates and the overrides (for check-config)."""
    problems = []
    env = _env(template_dir)
    for name in env.list_templates(filter_func=lambda n: n.endswith(".j2")):
        try:
            env.get_template(name)
        except Exception as exc:
            problems.append(f"{name}: {exc}")
    return problems
