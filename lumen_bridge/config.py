"""Configuration: pydantic models loaded from YAML with ``${VAR}`` expansion.

The file is found the same way by every subcommand: ``--config PATH``, else
``config/lumen-bridge.yaml`` in the working directory, else the built-in default
(``lumen_bridge/default.yaml``, the same file that ``config/`` ships). Unknown keys
are rejected. :func:`load_settings` raises :class:`ConfigError` with every problem
as ``location: message``; secrets are never part of a message.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from lumen_bridge.matchers import Matcher, MatcherError, parse_matcher

DEFAULT_CONFIG_PATH = Path("config/lumen-bridge.yaml")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; ``errors`` holds ``location: message`` lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_duration(value: object) -> timedelta:
    """Parse a Prometheus-style duration (``90s``, ``10m``, ``1h30m``) or seconds as a number."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value and _DURATION.sub("", value) == "":
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION.findall(value))
    else:
        raise ValueError(
            f"invalid duration {value!r}: use a number of seconds or e.g. 90s, 10m, 2h"
        )
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and value.strip() == "" else value


def _split_addresses(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _to_matcher(value: object) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        raise ValueError('a matcher is a string such as severity="page"')
    try:
        return parse_matcher(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from exc


MatcherField = Annotated[Matcher, PlainValidator(_to_matcher), PlainSerializer(str)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_to_none)]
OptionalStr = Annotated[str | None, BeforeValidator(_blank_to_none)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Model):
    """Where ``serve`` listens and how much it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(default=9095, ge=1, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)


class AuthConfig(_Model):
    """Bearer tokens; unset or empty means no authentication (loopback only)."""

    alert_token: OptionalSecret = None
    admin_token: OptionalSecret = None


class DatabaseConfig(_Model):
    """SQLAlchemy async URL, pool size (PostgreSQL only), SQLite's commit durability, and
    where webhooks are decided (``process``: a writer process beside the HTTP one)."""

    url: str = "sqlite+aiosqlite:///lumen-bridge.db"
    pool_size: int = Field(default=10, ge=1)
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    writer: Literal["process", "thread"] = "process"

    @field_validator("url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return url


class SmtpConfig(_Model):
    """The mail relay; ``tls`` empty picks ``starttls`` when a user is set, else ``none``."""

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    user: OptionalStr = None
    password: OptionalSecret = None
    tls: Annotated[Literal["starttls", "tls", "none"] | None, BeforeValidator(_blank_to_none)] = (
        None
    )
    ca_file: OptionalStr = None
    timeout: Duration = timedelta(seconds=10)

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            raise ValueError(f"no such file: {path} (SMTP_CA_FILE must name a PEM bundle)")
        return path

    @property
    def tls_mode(self) -> Literal["starttls", "tls", "none"]:
        """The TLS mode in effect."""
        if self.tls is not None:
            return self.tls
        return "starttls" if self.user else "none"


class EmailReceiver(_Model):
    """Pages by e-mail."""

    name: str
    type: Literal["email"]
    to: Annotated[list[str], BeforeValidator(_split_addresses)]
    from_: str = Field(alias="from")
    smtp: SmtpConfig = SmtpConfig()
    templates: OptionalStr = None
    """A directory whose ``page.txt`` and ``page.html`` (Jinja2) replace the built-in ones."""

    @field_validator("templates")
    @classmethod
    def _directory(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_dir():
            raise ValueError(
                f"no such directory: {path} (it holds page.txt and/or page.html to use instead "
                "of the built-in templates)"
            )
        return path

    @property
    def has_destination(self) -> bool:
        """Whether notifications for this receiver can go anywhere."""
        return bool(self.to)


class _HttpReceiver(_Model):
    """A receiver that POSTs JSON to a URL, with an optional bearer token."""

    name: str
    url: OptionalStr = None
    token: OptionalSecret = None
    timeout: Duration = timedelta(seconds=10)

    @property
    def has_destination(self) -> bool:
        """Whether notifications for this receiver can go anywhere."""
        return self.url is not None


class TicketReceiver(_HttpReceiver):
    """One ticket per incident through the ticket system's webhook."""

    type: Literal["ticket"]


class WebhookReceiver(_HttpReceiver):
    """A generic webhook; without a URL the receiver only records."""

    type: Literal["webhook"]


Receiver = Annotated[EmailReceiver | TicketReceiver | WebhookReceiver, Field(discriminator="type")]


class RouteConfig(_Model):
    """One route: Alertmanager matchers (all must match), a receiver, its windows."""

    receiver: str
    matchers: list[MatcherField] = []
    continue_: bool = Field(default=False, alias="continue")
    dedup_window: Duration | None = None
    reopen_window: Duration | None = None


class DedupConfig(_Model):
    """The default dedup window; the reopen window defaults to it."""

    window: Duration = timedelta(minutes=10)
    reopen_window: Duration | None = None


class SuppressionConfig(_Model):
    """``flag: true`` starts with the global suppression flag raised."""

    flag: bool = False


class RunbookConfig(_Model):
    """Runbook links: base URL plus an anchor per alert name."""

    base_url: str = "https://runbook.local/lumen"
    anchors: dict[str, str] = {}


class OutboxConfig(_Model):
    """Delivery retries: exponential backoff with jitter, capped."""

    initial_backoff: Duration = timedelta(seconds=0.5)
    max_backoff: Duration = timedelta(minutes=5)
    max_attempts: int = Field(default=20, ge=1)
    lease: Duration = timedelta(minutes=2)


class LogConfig(_Model):
    """Log level and format (``auto``: JSON unless stdout is a terminal)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(_Model):
    """The whole configuration of one lumen-bridge process."""

    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    database: DatabaseConfig = DatabaseConfig()
    dedup: DedupConfig = DedupConfig()
    suppression: SuppressionConfig = SuppressionConfig()
    runbook: RunbookConfig = RunbookConfig()
    outbox: OutboxConfig = OutboxConfig()
    log: LogConfig = LogConfig()
    receivers: list[Receiver] = []
    routes: list[RouteConfig] = []

    @model_validator(mode="after")
    def _routes_name_receivers(self) -> Settings:
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receiver names must be unique: {', '.join(duplicates)}")
        unknown = sorted({r.receiver for r in self.routes} - set(names))
        if unknown:
            raise ValueError(f"routes name unknown receivers: {', '.join(unknown)}")
        return self

    def receiver(self, name: str) -> EmailReceiver | TicketReceiver | WebhookReceiver:
        """The receiver called ``name``."""
        return next(r for r in self.receivers if r.name == name)


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
