"""Golden samples: `rules/<name>/*.eml` with `.expected.json` beside a rule `rules/<name>.toml`.

They are read with the rules they would run under (`leadmail eval`'s comparison, field by
field); `leadmail check-config` fails on a mismatch, and a SIGHUP reload that breaks one is
refused, the previous rules staying active.
"""

from __future__ import annotations

from pathlib import Path

from leadmail.errors import ConfigError, ConfigErrors
from leadmail.evaluate import evaluate
from leadmail.pipeline.runtime import Runtime

MAX_SAMPLES = 200  # golden samples read per rule at most


def directories(rt: Runtime) -> list[tuple[str, Path]]:
    """(rule file name, its golden samples' folder) for each rule that has one."""
    out = []
    for rule in rt.rules:
        folder = Path(rule.path).with_suffix("")
        if folder.is_dir():
            out.append((Path(rule.path).name, folder))
    return out


def problems(rt: Runtime) -> list[ConfigError]:
    """Each golden sample field the rules read otherwise than expected."""
    errors = []
    for name, folder in directories(rt):
        if len(list(folder.glob("*.expected.json"))[:MAX_SAMPLES + 1]) > MAX_SAMPLES:
            errors.append(ConfigError(f"{name}: golden samples",
                                      f"more than {MAX_SAMPLES} in {folder}"))
            continue
        try:
            report = evaluate(folder, rt)
        except (OSError, ValueError) as exc:
            errors.append(ConfigError(f"{name}: golden samples", f"cannot be read: {exc}"))
            continue
        for miss in report.mismatches:
            errors.append(ConfigError(
                f"{name}: golden sample {Path(miss['file']).name}",
                f"{miss['field']} is {miss['got']!r}, expected {miss['expected']!r}"))
    return errors


def check(rt: Runtime) -> int:
    """Raise ConfigErrors when a golden sample breaks; else the number of samples read."""
    errors = problems(rt)
    if errors:
        raise ConfigErrors(errors)
    return sum(len(list(folder.glob("*.expected.json"))) for _, folder in directories(rt))
