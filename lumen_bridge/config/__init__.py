"""The configuration: a YAML file with ``${VAR}`` expansion, validated by pydantic models."""

from lumen_bridge.config.auth import ADMIN, AuthConfig, NamedToken
from lumen_bridge.config.document import expand_env
from lumen_bridge.config.fields import Duration, parse_duration
from lumen_bridge.config.lifecycle import AckConfig, EscalationStep, SilencesConfig
from lumen_bridge.config.load import BUILT_IN, ConfigError, load_settings, resolve_config_path
from lumen_bridge.config.receivers import (
    EmailReceiver,
    Receiver,
    SmtpConfig,
    TicketReceiver,
    WebhookReceiver,
)
from lumen_bridge.config.settings import (
    DatabaseConfig,
    DedupConfig,
    LogConfig,
    OutboxConfig,
    RetentionConfig,
    RouteConfig,
    RunbookConfig,
    ServerConfig,
    Settings,
    SuppressionConfig,
)

__all__ = [
    "ADMIN",
    "BUILT_IN",
    "AckConfig",
    "AuthConfig",
    "ConfigError",
    "DatabaseConfig",
    "DedupConfig",
    "Duration",
    "EmailReceiver",
    "EscalationStep",
    "LogConfig",
    "NamedToken",
    "OutboxConfig",
    "Receiver",
    "RetentionConfig",
    "RouteConfig",
    "RunbookConfig",
    "ServerConfig",
    "Settings",
    "SilencesConfig",
    "SmtpConfig",
    "SuppressionConfig",
    "TicketReceiver",
    "WebhookReceiver",
    "expand_env",
    "load_settings",
    "parse_duration",
    "resolve_config_path",
]
