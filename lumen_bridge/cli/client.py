"""What the command-line clients of the bridge share: where it is, the admin token, errors.

They talk to ``LUMEN_BRIDGE_URL`` (default ``http://127.0.0.1:9095``) with
``LUMEN_ADMIN_TOKEN`` as the bearer token; every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import aiohttp

__all__ = ["DEFAULT_URL", "CliError", "base_url", "call", "run"]

DEFAULT_URL = "http://127.0.0.1:9095"
TIMEOUT = aiohttp.ClientTimeout(total=15)


class CliError(Exception):
    """A failure to report as one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def base_url() -> str:
    """The bridge's URL, without a trailing slash."""
    return (os.environ.get("LUMEN_BRIDGE_URL") or DEFAULT_URL).rstrip("/")


def _headers() -> dict[str, str]:
    token = os.environ.get("LUMEN_ADMIN_TOKEN", "")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _problem(status: int, body: Any) -> str:
    if status == 401:
        return "the bridge refused the admin token (401): set LUMEN_ADMIN_TOKEN to its value"
    if not isinstance(body, dict) or "error" not in body:
        return f"the bridge answered HTTP {status}"
    details = body.get("details") or []
    where = "; ".join(
        f"{'.'.join(str(p) for p in d.get('loc', [])) or 'body'}: "
        f"{str(d.get('msg')).removeprefix('Value error, ')}"
        for d in details
    )
    return f"{body['error']}" + (f" ({where})" if where else "")


async def call(method: str, path: str, body: Any = None) -> Any:
    """``method path`` with ``body`` as JSON; the JSON answer, or :class:`CliError`."""
    url = f"{base_url()}{path}"
    try:
        async with (
            aiohttp.ClientSession(headers=_headers(), timeout=TIMEOUT) as http,
            http.request(method, url, json=body) as response,
        ):
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = None
            if response.status >= 400:
                raise CliError(_problem(response.status, answer))
            return answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise CliError(f"cannot reach the bridge at {base_url()}: {reason}") from exc


def run(args: argparse.Namespace) -> int:
    """Run the command's ``action`` coroutine; its exit code (1 or 2 with one line on stderr)."""
    try:
        asyncio.run(args.action(args))
    except CliError as exc:
        print(f"lumen-bridge: {exc}", file=sys.stderr)
        return exc.code
    return 0
