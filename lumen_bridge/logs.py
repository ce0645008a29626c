"""structlog setup: one line per event, JSON when stdout is not a terminal.

No token reaches the log: every line, the bridge's and the libraries', has the values of
``Authorization`` headers and ``Bearer`` credentials redacted, and the raw request that
aiohttp quotes when it refuses a malformed one (a NUL byte in a header, say) is left out.
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

from lumen_bridge.config import LogConfig

__all__ = ["configure_logging", "redact"]

REDACTED = "[redacted]"
_CREDENTIALS = re.compile(
    r"""(?ix)
    (authorization['"]?\s*[:=]\s*['"]?)[^\r\n'"]*  # a header's value, to the line's or quote's end
    | (bearer\s+)[^\s'"]+                         # a bearer token, wherever it is quoted
    """
)
# aiohttp quotes the raw line of a request it cannot parse as a bytes literal
_RAW_BYTES = re.compile(r"""(?<!\w)b(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def redact(text: str) -> str:
    """``text`` with every ``Authorization`` value and ``Bearer`` credential redacted."""
    return _CREDENTIALS.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


class _RedactingFormatter(logging.Formatter):
    """Formats the records of the standard library's loggers (aiohttp's among them)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.name.startswith("aiohttp"):
            text = _RAW_BYTES.sub("<raw request left out>", text)
        return redact(text)


def _scrub(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def _redact_event(
    _logger: object, _method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A structlog processor: every string of the event, nested ones too, :func:`redact`-ed."""
    return {key: _scrub(value) for key, value in event.items()}


def configure_logging(config: LogConfig) -> None:
    """Configure structlog (and the stdlib loggers of libraries) for ``config``."""
    level = getattr(logging, config.level.upper())
    as_json = config.format == "json" or (config.format == "auto" and not sys.stdout.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_RedactingFormatter("%(message)s"))
    logging.basicConfig(level=max(level, logging.WARNING), handlers=[handler])
