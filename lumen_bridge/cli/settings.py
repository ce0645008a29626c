"""How every subcommand reads the configuration: every error at once, then exit 2."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url

from lumen_bridge.config import (
    BUILT_IN,
    ConfigError,
    Settings,
    load_settings,
    resolve_config_path,
)

__all__ = ["config_source", "read_settings", "safe_url"]


def safe_url(url: str) -> str:
    """A database URL fit for a log line or a terminal: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def config_source(args: argparse.Namespace) -> str:
    """The name of the configuration file in use: its path, or ``built-in default``."""
    return str(resolve_config_path(args.config) or BUILT_IN)


def read_settings(args: argparse.Namespace, *, templates: bool = False) -> Settings:
    """The configuration, or exit 2 with every error on stderr, one ``file:line: key.path:
    message`` a line; ``templates``: the e-mail receivers' own templates too (a sample page
    is rendered with each)."""
    try:
        settings = load_settings(args.config)
        if templates:
            from lumen_bridge.notifiers.email import check_templates

            if problems := check_templates(settings):
                raise ConfigError([f"{config_source(args)}: {line}" for line in problems])
        return settings
    except ConfigError as exc:
        count = len(exc.errors)
        print(
            f"lumen-bridge: invalid configuration, {count} error{'s' if count > 1 else ''}:",
            file=sys.stderr,
        )
        for line in exc.errors:
            print(line, file=sys.stderr)
        raise SystemExit(2) from exc
