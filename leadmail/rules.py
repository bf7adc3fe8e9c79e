"""Per-source rules (rules/*.toml): which mails a source sends, and what to set on its leads."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadmail import leadfields
from leadmail.config import LEAD_STAGES, ORIGINS
from leadmail.errors import ConfigError, ConfigErrors
from leadmail.parsers.base import Mail

_MATCH_KEYS = {"from", "to", "subject", "body", "headers"}
_SET_KEYS = set(leadfields.names("rule_set"))
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
    "extract",
    "when",
}
# Fields a rule's [extract] table may take from the mail, overriding the parser.
EXTRACT_FIELDS = set(leadfields.names("extract"))
# Fields a [[when]] may test: the lead's, and what routing reads from them (city, state, zip).
CONDITION_FIELDS = set(leadfields.names("condition")) | {"city", "state", "zip", "parser"}
OPERATORS = {
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "in",
    "not_in",
    "contains",
    "matches",
    "prefix",
    "exists",
}


@dataclass(frozen=True)
class Extraction:
    """Take one field by label ("Label: value" line or table row) or by regex (first group)."""

    field: str
    label: str | None = None
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Condition:
    """One test on a lead field: `price = { gt = 1000000 }`, `city = { in = [...] }`."""

    field: str
    op: str
    value: Any

    def holds(self, actual: Any) -> bool:
        """True when the lead's value passes the test (a missing value passes only ne/exists)."""
        op, want = self.op, self.value
        if op == "exists":
            return (actual not in (None, "", [])) == bool(want)
        if actual is None:
            return op in ("ne", "not_in")
        values = actual if isinstance(actual, list) else [actual]
        low = [str(v).lower() for v in values]
        if op == "eq":
            return str(want).lower() in low
        if op == "ne":
            return str(want).lower() not in low
        if op == "in":
            return any(str(w).lower() in low for w in want)
        if op == "not_in":
            return not any(str(w).lower() in low for w in want)
        if op == "contains":
            return any(str(want).lower() in v for v in low)
        if op == "prefix":
            prefixes = want if isinstance(want, list) else [want]
            return any(v.startswith(str(p).lower()) for v in low for p in prefixes)
        if op == "matches":
            return any(re.search(str(want), str(v), re.I) for v in values)
        try:
            number = float(actual)
        except (TypeError, ValueError):
            return False
        return {
            "gt": number > want,
            "ge": number >= want,
            "lt": number < want,
            "le": number <= want,
        }[op]


@dataclass(frozen=True)
class When:
    """Conditional sets: when every condition holds, apply `set`."""

    conditions: tuple[Condition, ...]
    sets: dict[str, Any]
    label: str


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
    extractions: tuple[Extraction, ...] = ()
    when: tuple[When, ...] = ()

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


def _as_list(value: Any, key: str, lower: bool = True) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.lower() if lower else v for v in value)
    raise ConfigError(key, "expected a string or a list of strings")


def _regex(value: Any, key: str) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise ConfigError(key, "expected a regular expression string")
    try:
        return re.compile(value, re.I | re.M)
    except re.error as exc:
        raise ConfigError(key, f"bad regular expression: {exc}") from None


def _check_sets(sets: dict[str, Any], where: str, segments: tuple[str, ...]) -> dict[str, Any]:
    sets = dict(sets)
    for key in sets:
        if key not in _SET_KEYS:
            raise ConfigError(f"{where}.{key}", f"unknown key (use {sorted(_SET_KEYS)})")
    if "stage" in sets and sets["stage"] not in LEAD_STAGES:
        raise ConfigError(f"{where}.stage", f"{sets['stage']!r} is not one of {LEAD_STAGES}")
    if "segment" in sets and sets["segment"] not in segments:
        raise ConfigError(
            f"{where}.segment",
            f"{sets['segment']!r} is not a known segment (add it to classify.segments)",
        )
    if "origin" in sets and sets["origin"] not in ORIGINS:
        raise ConfigError(f"{where}.origin", f"{sets['origin']!r} is not one of {ORIGINS}")
    if "tags" in sets:
        sets["tags"] = list(_as_list(sets["tags"], f"{where}.tags", lower=False))
    if "custom_fields" in sets and not isinstance(sets["custom_fields"], dict):
        raise ConfigError(f"{where}.custom_fields", "must be a table")
    if "agent" in sets:
        sets["agent"] = str(sets["agent"]).strip().lower()
    return sets


def _extractions(table: Any, where: str) -> tuple[Extraction, ...]:
    if not isinstance(table, dict):
        raise ConfigError(where, "must be a table of field = { label = ... } or { regex = ... }")
    out = []
    for name, spec in table.items():
        key = f"{where}.{name}"
        if name not in EXTRACT_FIELDS:
            raise ConfigError(key, f"not a field rules extract (use {sorted(EXTRACT_FIELDS)})")
        if isinstance(spec, str):
            spec = {"label": spec}
        if not isinstance(spec, dict) or len(spec) != 1 or not ({"label", "regex"} & set(spec)):
            raise ConfigError(key, 'expected { label = "Phone" } or { regex = "..." }')
        if "label" in spec:
            out.append(Extraction(name, label=str(spec["label"])))
        else:
            out.append(Extraction(name, regex=_regex(spec["regex"], key)))
    return tuple(out)


def _whens(items: Any, where: str, segments: tuple[str, ...]) -> tuple[When, ...]:
    if not isinstance(items, list):
        raise ConfigError(where, "use [[when]] tables")
    out = []
    for i, item in enumerate(items):
        key = f"{where}[{i}]"
        if not isinstance(item, dict) or "set" not in item:
            raise ConfigError(key, "needs a `set` table and at least one condition")
        conditions = []
        for fname, test in item.items():
            if fname == "set":
                continue
            if fname not in CONDITION_FIELDS and not fname.startswith("custom_fields."):
                raise ConfigError(f"{key}.{fname}", "not a lead field (use one of "
                                  f"{sorted(CONDITION_FIELDS)} or custom_fields.NAME)")
            if not isinstance(test, dict):
                test = {"eq": test}
            for op, value in test.items():
                if op not in OPERATORS:
                    raise ConfigError(
                        f"{key}.{fname}.{op}", f"unknown operator (use {sorted(OPERATORS)})"
                    )
                if op in ("gt", "ge", "lt", "le") and not isinstance(value, int | float):
                    raise ConfigError(f"{key}.{fname}.{op}", "needs a number")
                if op in ("in", "not_in") and not isinstance(value, list):
                    raise ConfigError(f"{key}.{fname}.{op}", "needs a list")
                if op == "matches":
                    _regex(value, f"{key}.{fname}.{op}")
                conditions.append(Condition(fname, op, value))
        if not conditions:
            raise ConfigError(key, "has no condition")
        out.append(
            When(
                tuple(conditions),
                _check_sets(item["set"], f"{key}.set", segments),
                label=f"when[{i}]",
            )
        )
    return tuple(out)


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
    sets = _check_sets(sets, f"{where}: set", segments)
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
        extractions=_extractions(data.get("extract", {}), f"{where}: extract"),
        when=_whens(data.get("when", []), f"{where}: when", segments),
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


def apply_extractions(rule: Rule, mail: Mail, ext: Any) -> list[str]:
    """Override the parser's values with the rule's label/regex extractions; fields set."""
    from leadmail.scripts.view import MailView

    view = MailView(mail)
    done = []
    for item in rule.extractions:
        value: str | None = None
        if item.label is not None:
            value = view.field(item.label)
        elif item.regex is not None:
            m = item.regex.search(mail.text)
            if m:
                value = (m.group(1) if m.groups() else m.group(0)).strip()
        if value:
            setattr(ext, item.field, value)
            ext.confidence[item.field] = 1.0
            done.append(item.field)
    return done
