"""POST a JSON body and classify the answer (shared by the ticket and webhook notifiers).

2xx is delivered. 5xx, 429, timeouts and connection errors are retried, with the
``Retry-After`` the server sent (seconds or an HTTP date). Any other answer
(other 4xx, a redirect) cannot succeed by retrying and is permanent.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from pydantic import SecretStr

from lumen_bridge.clock import Clock
from lumen_bridge.notifiers.base import Result, Verdict

_BODY_EXCERPT = 200


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (None when absent or invalid)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


class JsonPoster:
    """POSTs JSON to one URL with an optional bearer token and a total timeout."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: SecretStr | None,
        timeout: timedelta,
        clock: Clock,
    ) -> None:
        self.session = session
        self.url = url
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self.clock = clock

    async def post(self, body: dict[str, Any], headers: dict[str, str]) -> Result:
        """Send ``body`` once and classify the outcome."""
        headers = {"Content-Type": "application/json", **headers}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self.session.post(
                self.url, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return Result.delivered(status)
                text = (await response.text(errors="replace"))[:_BODY_EXCERPT]
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock())
        except TimeoutError:
            return Result(Verdict.RETRY, error=f"timed out after {self.timeout.total}s")
        except aiohttp.ClientError as exc:
            return Result(Verdict.RETRY, error=f"{type(exc).__name__}: {exc}")
        verdict = Verdict.RETRY if status == 429 or status >= 500 else Verdict.PERMANENT
        error = f"HTTP {status}: {text}".strip()
        return Result(verdict, status, error, retry_after if verdict is Verdict.RETRY else None)
