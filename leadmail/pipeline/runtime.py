"""What the pipeline reads besides the message: settings, rules and what parsers know."""

from __future__ import annotations

from dataclasses import dataclass

from leadmail import parsers, scripts
from leadmail.config import Settings
from leadmail.errors import ConfigError, ConfigErrors, Quarantine
from leadmail.parsers.base import ParseContext
from leadmail.rules import Rule, load_rules


@dataclass(frozen=True)
class Runtime:
    """Everything the pipeline reads besides the message: loaded at start and on SIGHUP."""

    settings: Settings
    rules: list[Rule]
    parse_ctx: ParseContext

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        """Load rules and agent knowledge; raises ConfigErrors on a bad rule file."""
        rules = load_rules(
            settings.rules.dir, settings.classify.all_segments(), {p.name for p in parsers.PARSERS}
        )
        for rule in rules:
            if rule.script:
                try:
                    scripts.check(rule.script)
                except Quarantine as exc:
                    raise ConfigErrors([ConfigError(f"{rule.path}: script", exc.reason)]) from None
        ctx = ParseContext(
            agent_emails=frozenset(a.email for a in settings.agents),
            agent_phones=frozenset(a.phone for a in settings.agents if a.phone),
            agent_names=frozenset(a.name.lower() for a in settings.agents),
            default_region=settings.pipeline.default_region,
            nlp_model=settings.pipeline.nlp_model,
        )
        return cls(settings, rules, ctx)
