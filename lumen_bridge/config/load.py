"""Loading the configuration: the file's search order, ``${VAR}`` expansion, every error at once.

The file is found the same way by every subcommand: ``--config PATH``, else
``config/lumen-bridge.yaml`` in the working directory, else the built-in default
(``lumen_bridge/default.yaml``, the same file that ``config/`` ships). :func:`load_settings`
raises :class:`ConfigError` with every problem as ``file:line: key.path: message``
(``built-in default`` is the built-in file's name); secrets are never part of a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from lumen_bridge.config.document import Document
from lumen_bridge.config.problems import describe, display
from lumen_bridge.config.settings import Location, Settings, reference_problems

DEFAULT_CONFIG_PATH = Path("config/lumen-bridge.yaml")
BUILT_IN = "built-in default"


class ConfigError(Exception):
    """The configuration cannot be used; ``errors`` holds ``file:line: key.path: message``
    lines, in the file's order."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def resolve_config_path(path: Path | None) -> Path | None:
    """The file to read: ``path``, else ``config/lumen-bridge.yaml`` when present, else None."""
    if path is not None:
        return path
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate the configuration (see the module docstring for the search order)."""
    chosen = resolve_config_path(path)
    if chosen is None:
        text = resources.files("lumen_bridge").joinpath("default.yaml").read_text("utf-8")
        where = BUILT_IN
    else:
        try:
            text = chosen.read_text("utf-8")
        except OSError as exc:
            raise ConfigError([f"{chosen}: cannot read: {exc.strerror}"]) from exc
        where = str(chosen)
    try:
        document = Document.parse(text, environ)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError([f"{where}{line}: {problem}"]) from exc
    data = {} if document.data is None else document.data
    problems: list[tuple[Location, str]] = reference_problems(data)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems += [describe(e) for e in exc.errors(include_url=False)]
    else:
        if not problems:
            return settings
    located = sorted((document.locate(at), display(at), message) for at, message in problems)
    raise ConfigError([f"{where}:{line}: {at}: {message}" for line, at, message in located])
