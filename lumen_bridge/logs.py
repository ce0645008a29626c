"""structlog setup: one line per event, JSON when stdout is not a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

from lumen_bridge.config import LogConfig


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
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stdout, format="%(message)s")
