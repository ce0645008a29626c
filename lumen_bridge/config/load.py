"""Loading the configuration: the file's search order, ``${VAR}`` expansion, every error at once.

The file is found the same way by every subcommand: ``--config PATH``, else
``config/lumen-bridge.yaml`` in the working directory, else the built-in default
(``lumen_bridge/default.yaml``, the same file that ``config/`` ships). Unknown keys
are rejected. :func:`load_settings` raises :class:`ConfigError` with every problem
as ``location: message``; secrets are never part of a message.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lumen_bridge.config.settings import Settings

DEFAULT_CONFIG_PATH = Path("config/lumen-bridge.yaml")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; ``errors`` holds ``location: message`` lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def expand_env(text: str, environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unset ``${VAR}`` becomes empty."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        value = env.get(match.group(1))
        if value is None or (value == "" and match.group(2) is not None):
            return match.group(2) or ""
        return value

    return _VAR.sub(substitute, text)


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{location}: {error['msg']}")
    return lines


def resolve_config_path(path: Path | None) -> Path | None:
    """The file to read: ``path``, else ``config/lumen-bridge.yaml`` when present, else None."""
    if path is not None:
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load_settings(
    path: Path | None = None, environ: dict[str, str] | os._Environ[str] | None = None
) -> Settings:
    """Load and validate the configuration (see the module docstring for the search order)."""
    chosen = resolve_config_path(path)
    if chosen is None:
        text = resources.files("lumen_bridge").joinpath("default.yaml").read_text("utf-8")
        where = "built-in default"
    else:
        try:
            text = chosen.read_text("utf-8")
        except OSError as exc:
            raise ConfigError([f"{chosen}: cannot read: {exc.strerror}"]) from exc
        where = str(chosen)
    try:
        data: Any = yaml.safe_load(expand_env(text, environ))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{where}{line}: {problem}"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{where}: the top level must be a mapping"])
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from exc
