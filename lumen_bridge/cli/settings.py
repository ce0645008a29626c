"""How every subcommand reads the configuration: every error at once, then exit 2."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url

from lumen_bridge.config import ConfigError, Settings, load_settings

__all__ = ["read_settings", "safe_url"]


def safe_url(url: str) -> str:
    """A database URL fit for a log line or a terminal: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def read_settings(args: argparse.Namespace, *, templates: bool = False) -> Settings:
    """The configuration, or exit 2 with every error; ``templates``: the e-mail receivers'
    own templates too (a sample page is rendered with each)."""
    try:
        settings = load_settings(args.config)
        if templates:
            from lumen_bridge.notifiers.email import check_templates

            if problems := check_templates(settings):
                raise ConfigError(problems)
        return settings
    except ConfigError as exc:
        print("lumen-bridge: invalid configuration:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        raise SystemExit(2) from exc
