"""The whole configuration of one lumen-bridge process, section by section."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from lumen_bridge.config.auth import AuthConfig
from lumen_bridge.config.fields import (
    Duration,
    HttpUrl,
    MatcherField,
    Model,
    OptionalHttpUrl,
    OptionalSecret,
    OptionalStr,
    split_addresses,
)
from lumen_bridge.config.lifecycle import AckConfig, EscalationStep, SilencesConfig
from lumen_bridge.config.receivers import EmailReceiver, Receiver, TicketReceiver, WebhookReceiver


class ServerConfig(Model):
    """Where ``serve`` listens and how much it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(default=9095, ge=1, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    external_url: OptionalHttpUrl = None
    """The bridge's address as people reach it: page e-mails and tickets then link to the
    incident's page and to a silence form for the alert; unset, they do not."""


class DatabaseConfig(Model):
    """SQLAlchemy async URL, pool size (PostgreSQL only), SQLite's commit durability, and
    where webhooks are decided (``process``: a writer process beside the HTTP one)."""

    url: str = "sqlite+aiosqlite:///lumen-bridge.db"
    pool_size: int = Field(default=10, ge=1)
    sqlite_synchronous: Literal["normal", "full"] = "full"
    writer: Literal["process", "thread"] = "process"

    @field_validator("url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return url


class RouteConfig(Model):
    """One route: Alertmanager matchers (all must match), a receiver, its windows."""

    receiver: str
    matchers: list[MatcherField] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    dedup_window: Duration | None = None
    reopen_window: Duration | None = None
    escalation: list[EscalationStep] = Field(default_factory=list)
    """Who is paged next, in order, while a page of this route is not acknowledged."""


class DedupConfig(Model):
    """The default dedup window; the reopen window defaults to it."""

    window: Duration = timedelta(minutes=10)
    reopen_window: Duration | None = None


class SuppressionConfig(Model):
    """``flag: true`` starts with the global suppression flag raised."""

    flag: bool = False


class RunbookConfig(Model):
    """Runbook links: base URL plus an anchor per alert name."""

    base_url: HttpUrl = "https://runbook.local/lumen"
    anchors: dict[str, str] = Field(default_factory=dict)


class OutboxConfig(Model):
    """Delivery retries: exponential backoff with jitter, capped."""

    initial_backoff: Duration = timedelta(seconds=0.5)
    max_backoff: Duration = timedelta(minutes=5)
    max_attempts: int = Field(default=20, ge=1)
    lease: Duration = timedelta(minutes=2)


class RetentionConfig(Model):
    """How long finished things are kept: resolved incidents with their events, and delivered
    or dead outbox rows with their attempts, are pruned in the background once older than
    ``max_age``, ``batch`` rows per transaction, every ``interval``."""

    max_age: Duration = timedelta(days=30)
    batch: int = Field(default=500, ge=1, le=10_000)
    interval: Duration = timedelta(minutes=5)


class AlertmanagersConfig(Model):
    """Reconcile with Alertmanager (docs/reconcile.md): every ``interval``, ask each peer in
    ``urls`` (base URLs, a list or one comma-separated string) for its alerts, and resolve
    the firing incidents that every peer that answered no longer has, two polls in a row.
    No URL: reconcile is off. Peers take a bearer ``token`` or basic auth (``username``,
    ``password``), and ``ca_file``, a PEM bundle to trust instead of the system's CAs."""

    urls: Annotated[list[HttpUrl], BeforeValidator(split_addresses)] = Field(default_factory=list)
    interval: Duration = timedelta(minutes=1)
    timeout: Duration = timedelta(seconds=10)
    token: OptionalSecret = None
    username: OptionalStr = None
    password: OptionalSecret = None
    ca_file: OptionalStr = None

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            raise ValueError(f"no such file: {path} (ca_file must name a PEM bundle)")
        return path

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> AlertmanagersConfig:
        if self.token is not None and self.username is not None:
            raise ValueError("set either token or username and password, not both")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self


class LogConfig(Model):
    """Log level and format (``auto``: JSON unless stdout is a terminal)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


Location = tuple[str | int, ...]
"""Where a value is, as pydantic says it: ``("routes", 0, "receiver")``."""


class Settings(Model):
    """The whole configuration of one lumen-bridge process; the names that link its sections
    are checked with :func:`reference_problems` (``load_settings`` does both)."""

    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    database: DatabaseConfig = DatabaseConfig()
    dedup: DedupConfig = DedupConfig()
    suppression: SuppressionConfig = SuppressionConfig()
    silences: SilencesConfig = SilencesConfig()
    ack: AckConfig = AckConfig()
    runbook: RunbookConfig = RunbookConfig()
    outbox: OutboxConfig = OutboxConfig()
    retention: RetentionConfig = RetentionConfig()
    alertmanagers: AlertmanagersConfig = AlertmanagersConfig()
    log: LogConfig = LogConfig()
    receivers: list[Receiver] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list, validate_default=True)

    @field_validator("routes")
    @classmethod
    def _some_route(cls, routes: list[RouteConfig]) -> list[RouteConfig]:
        if not routes:
            raise ValueError(
                "no route, so every alert would be ignored: add at least one "
                "(a route without matchers, like `- receiver: oncall`, catches everything)"
            )
        return routes

    def receiver(self, name: str) -> EmailReceiver | TicketReceiver | WebhookReceiver:
        """The receiver called ``name``."""
        return next(r for r in self.receivers if r.name == name)


def reference_problems(data: object) -> list[tuple[Location, str]]:
    """What is wrong with the names that link sections, read from the file's data (so that
    these problems are found together with every other): receivers named twice, routes,
    escalation steps or ``silences.notify`` that name no receiver (the last two must name an
    e-mail receiver)."""
    if not isinstance(data, Mapping):
        return []
    problems: list[tuple[Location, str]] = []
    names: list[str] = []
    emails: list[str] = []
    for i, receiver in enumerate(_items(data.get("receivers"))):
        name = receiver.get("name")
        if isinstance(name, str):
            if name in names:
                problems.append(
                    (("receivers", i, "name"), f"another receiver is already called {name!r}")
                )
            names.append(name)
            if receiver.get("type") == "email":
                emails.append(name)
    for i, route in enumerate(_items(data.get("routes"))):
        name = route.get("receiver")
        if isinstance(name, str) and name not in names:
            known = ", ".join(dict.fromkeys(names)) or "none is defined"
            problems.append(
                (("routes", i, "receiver"), f"no receiver is called {name!r} (receivers: {known})")
            )
        for j, step in enumerate(_items(route.get("escalation"))):
            target = step.get("receiver")
            if isinstance(target, str) and target not in emails:
                known = ", ".join(dict.fromkeys(emails)) or "none is defined"
                problems.append(
                    (
                        ("routes", i, "escalation", j, "receiver"),
                        f"no e-mail receiver is called {target!r} (e-mail receivers: {known})",
                    )
                )
    silences = data.get("silences")
    notify = silences.get("notify") if isinstance(silences, Mapping) else None
    if isinstance(notify, str) and notify and notify not in emails:
        known = ", ".join(dict.fromkeys(emails)) or "none is defined"
        problems.append(
            (
                ("silences", "notify"),
                f"no e-mail receiver is called {notify!r} (e-mail receivers: {known})",
            )
        )
    return problems


def _items(value: object) -> list[Mapping[str, object]]:
    """The mappings of a list (placeholders for the rest, to keep the indices)."""
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, Mapping) else {} for item in value]
