"""Alertmanager peers: one aiohttp client each, asking ``GET /api/v2/alerts``.

A peer's answer is every alert it holds, by fingerprint, with its state: ``silenced``
(``silencedBy`` not empty, or suppressed for another reason such as a mute time
interval), ``inhibited`` (``inhibitedBy`` not empty) or ``active``. Whatever keeps a
peer from answering (refused, timed out, not 200, not the API's JSON) is a
:class:`PeerError`: the poller then takes that peer as silent, never as empty.
"""

from __future__ import annotations

import ssl
from types import TracebackType

import aiohttp
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from yarl import URL

from lumen_bridge.config.settings import AlertmanagersConfig
from lumen_bridge.store.models import AlertmanagerState

__all__ = ["Peer", "PeerError", "parse_alerts"]

MAX_ANSWER_BYTES = 64 * 1024 * 1024


class PeerError(Exception):
    """The peer did not answer with its alerts; the message says why, in plain words."""


class _Status(BaseModel):
    state: str
    silenced_by: list[str] = Field(default_factory=list, alias="silencedBy")
    inhibited_by: list[str] = Field(default_factory=list, alias="inhibitedBy")


class _PeerAlert(BaseModel):
    fingerprint: str
    status: _Status


_ALERTS = TypeAdapter(list[_PeerAlert])


def _state(status: _Status) -> AlertmanagerState:
    if status.silenced_by:
        return AlertmanagerState.SILENCED
    if status.inhibited_by:
        return AlertmanagerState.INHIBITED
    if status.state == "suppressed":
        return AlertmanagerState.SILENCED
    return AlertmanagerState.ACTIVE


def parse_alerts(body: bytes) -> dict[str, AlertmanagerState]:
    """The alerts in an answer of ``GET /api/v2/alerts``, by fingerprint."""
    try:
        alerts = _ALERTS.validate_json(body)
    except ValidationError as exc:
        raise PeerError(
            f"not a list of Alertmanager alerts ({exc.error_count()} problems)"
        ) from None
    return {alert.fingerprint: _state(alert.status) for alert in alerts}


class Peer:
    """One Alertmanager, asked with its own HTTP client (open it with ``async with``)."""

    def __init__(self, url: str, config: AlertmanagersConfig) -> None:
        base = URL(url)
        self.name = str(base.with_user(None))
        """The peer's URL without credentials, for logs."""
        self._url = base.joinpath("api/v2/alerts")
        self._config = config
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Peer:
        config = self._config
        context = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else True
        headers = {"Accept": "application/json"}
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else ""
            headers["Authorization"] = aiohttp.encode_basic_auth(config.username, password)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=1),
            timeout=aiohttp.ClientTimeout(total=config.timeout.total_seconds()),
            headers=headers,
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def alerts(self) -> dict[str, AlertmanagerState]:
        """Every alert the peer holds, by fingerprint; :class:`PeerError` when it cannot say."""
        assert self._session is not None, "open the peer with async with"
        try:
            async with self._session.get(self._url) as response:
                if response.status != 200:
                    raise PeerError(f"answered HTTP {response.status}")
                body = await response.content.read(MAX_ANSWER_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerError(f"unreachable: {type(exc).__name__}") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise PeerError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
        return parse_alerts(body)
