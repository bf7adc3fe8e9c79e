"""What every command group shares: the settings, the database and JSON lines."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from leadmail import config, db, logs
from leadmail.errors import ConfigError, ConfigErrors


def load_settings(args: argparse.Namespace) -> config.Settings:
    """The settings of `--config` (or the default places), with logging set up from them."""
    path = config.find_config(args.config)
    settings = config.load(path)
    logs.setup(settings.log.level, settings.log.format,
               settings.log.repeat_limit, settings.log.repeat_interval)
    return settings


def with_rules(settings: config.Settings, rules_dir: str | None) -> config.Settings:
    """The settings with another rules directory (admins trying rules before going live)."""
    if not rules_dir:
        return settings
    try:  # a path given on the command line is read from the working directory
        rules = config.RulesConfig.model_validate({"dir": rules_dir},
                                                  context={"base": os.getcwd()})
    except ValidationError:
        raise ConfigErrors([ConfigError("--rules", f"{rules_dir} is not a directory")]) from None
    return settings.model_copy(update={"rules": rules})


def connect(args: argparse.Namespace) -> tuple[config.Settings, Engine]:
    """The settings (`load_settings`) and their database, its schema upgraded first."""
    settings = load_settings(args)
    db.upgrade(settings.database.url)
    return settings, db.make_engine(settings.database.url)


def add_list(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """A `list` subcommand with `--json` (one JSON object per line)."""
    listing = commands.add_parser("list")
    listing.add_argument("--json", action="store_true")
    return listing


def as_json(obj: Any) -> str:
    """One JSON line (dates and other values as their str)."""
    return json.dumps(obj, ensure_ascii=False, default=str)
