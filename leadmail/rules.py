"""Per-source rules (rules/*.toml): which mails a source sends, and what to set on its leads."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadmail.config import ORIGINS, STAGES
from leadmail.errors import ConfigError, ConfigErrors
from leadmail.parsers.base import Mail

_MATCH_KEYS = {"from", "to", "subject", "body", "headers"}
_SET_KEYS = {"stage", "segment", "origin", "tags", "custom_fields", "pond", "source"}
_TOP_KEYS = {
    "name",
    "description",
    "source",
    "parser",
    "priority",
    "match",
    "set",
    "script",
    "enabled",
}


@dataclass(frozen=True)
class Rule:
    """One source rule, loaded from a TOML file."""

    name: str
    path: str
    source: str | None = None
    parser: str | None = None
    priority: int = 100
    from_globs: tuple[str, ...] = ()
    to_globs: tuple[str, ...] = ()
    subject: re.Pattern[str] | None = None
    body: re.Pattern[str] | None = None
    headers: tuple[tuple[str, re.Pattern[str]], ...] = ()
    sets: dict[str, Any] = field(default_factory=dict)
    script: Path | None = None

    def matches(self, mail: Mail) -> bool:
        """All given conditions hold (an absent condition holds)."""
        senders = [mail.from_addr, *(a for _, a in mail.reply_to), mail.header("sender").lower()]
        if self.from_globs and not any(
            fnmatch.fnmatch(s, g) for s in senders if s for g in self.from_globs
        ):
            return False
        rcpts = [a for _, a in mail.to + mail.cc]
        if self.to_globs and not any(fnmatch.fnmatch(r, g) for r in rcpts for g in self.to_globs):
            return False
        if self.subject and not self.subject.search(mail.subject):
            return False
        if self.body and not self.body.search(mail.text):
            return False
        return all(rx.search(mail.header(name)) for name, rx in self.headers)


def _as_list(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value.lower(),)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.lower() for v in value)
    raise ConfigError(key, "expected a string or a list of strings")


def _regex(value: Any, key: str) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise ConfigError(key, "expected a regular expression string")
    try:
        return re.compile(value, re.I | re.M)
    except re.error as exc:
        raise ConfigError(key, f"bad regular expression: {exc}") from None


def parse_rule(
    data: dict[str, Any], path: Path, segments: tuple[str, ...], parsers: set[str] | None = None
) -> Rule:
    """Validate one rule file's contents; raise ConfigError naming the key at fault."""
    where = path.name
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{where}: {key}", "unknown key")
    match = data.get("match", {})
    sets = dict(data.get("set", {}))
    if not isinstance(match, dict) or not isinstance(sets, dict):
        raise ConfigError(f"{where}: match/set", "must be tables")
    for key in match:
        if key not in _MATCH_KEYS:
            raise ConfigError(f"{where}: match.{key}", f"unknown key (use {sorted(_MATCH_KEYS)})")
    for key in sets:
        if key not in _SET_KEYS:
            raise ConfigError(f"{where}: set.{key}", f"unknown key (use {sorted(_SET_KEYS)})")
    if "stage" in sets and sets["stage"] not in STAGES:
        raise ConfigError(f"{where}: set.stage", f"{sets['stage']!r} is not one of {STAGES}")
    if "segment" in sets and sets["segment"] not in segments:
        raise ConfigError(
            f"{where}: set.segment",
            f"{sets['segment']!r} is not a known segment (add it to classify.segments)",
        )
    if "origin" in sets and sets["origin"] not in ORIGINS:
        raise ConfigError(f"{where}: set.origin", f"{sets['origin']!r} is not one of {ORIGINS}")
    if "tags" in sets:
        sets["tags"] = list(_as_list(sets["tags"], f"{where}: set.tags"))
    if "custom_fields" in sets and not isinstance(sets["custom_fields"], dict):
        raise ConfigError(f"{where}: set.custom_fields", "must be a table")
    parser = data.get("parser")
    if parser is not None and parsers is not None and parser not in parsers:
        raise ConfigError(f"{where}: parser", f"{parser!r} is not one of {sorted(parsers)}")
    script = None
    if data.get("script"):
        script = (path.parent / str(data["script"])).resolve()
        if not script.is_file():
            raise ConfigError(f"{where}: script", f"{script} does not exist")
    headers = match.get("headers", {})
    if not isinstance(headers, dict):
        raise ConfigError(f"{where}: match.headers", "must be a table of header = regex")
    return Rule(
        name=str(data.get("name") or path.stem),
        path=str(path),
        source=data.get("source"),
        parser=parser,
        priority=int(data.get("priority", 100)),
        from_globs=_as_list(match["from"], f"{where}: match.from") if "from" in match else (),
        to_globs=_as_list(match["to"], f"{where}: match.to") if "to" in match else (),
        subject=_regex(match["subject"], f"{where}: match.subject") if "subject" in match else None,
        body=_regex(match["body"], f"{where}: match.body") if "body" in match else None,
        headers=tuple(
            (k.lower(), _regex(v, f"{where}: match.headers.{k}")) for k, v in headers.items()
        ),
        sets=sets,
        script=script,
    )


def load_rules(
    directory: str | Path, segments: tuple[str, ...], parsers: set[str] | None = None
) -> list[Rule]:
    """All enabled rules in a directory, by priority then file name; every error reported."""
    root = Path(directory)
    if not root.exists():
        return []
    rules: list[Rule] = []
    errors: list[ConfigError] = []
    for path in sorted(root.glob("*.toml")):
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
            if data.get("enabled", True):
                rules.append(parse_rule(data, path, segments, parsers))
        except tomllib.TOMLDecodeError as exc:
            errors.append(ConfigError(path.name, f"not valid TOML: {exc}"))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigErrors(errors)
    return sorted(rules, key=lambda r: (r.priority, r.path))


def match_rule(rules: list[Rule], mail: Mail) -> Rule | None:
    """The first rule whose conditions all hold."""
    return next((r for r in rules if r.matches(mail)), None)
