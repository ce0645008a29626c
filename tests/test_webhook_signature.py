"""Optional HMAC-SHA256 signatures of webhook bodies (``auth.webhook_hmac_secret_file``)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from lumen_bridge.app import create_app
from lumen_bridge.config import ConfigError
from tests.conftest import ALERT_TOKEN, AppFactory, auth, make_settings, payload
from tests.helpers import count_events
from tests.procs import BRIDGE, free_port

SECRET = b"a-shared-signing-secret"
HEADER = "X-Lumen-Signature"


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "webhook.secret"
    path.write_bytes(SECRET + b"\n")  # stripped, as an editor leaves it
    return path


@pytest.fixture
async def signed(make_client: AppFactory, secret_file: Path) -> TestClient[Any, Any]:
    return await make_client(LUMEN_WEBHOOK_HMAC_SECRET_FILE=str(secret_file))


def body_of(fingerprint: str = "signed") -> bytes:
    return json.dumps(payload(fingerprint=fingerprint)).encode()


async def post_raw(
    client: TestClient[Any, Any], body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/webhook", data=body, headers={"Content-Type": "application/json", **headers}
    )
    answer: dict[str, Any] = await response.json()
    return response.status, answer


@pytest.mark.parametrize(
    "signature",
    [lambda b: sign(b), lambda b: f"sha256={sign(b)}", lambda b: f"SHA256={sign(b).upper()}"],
    ids=["hex", "sha256-prefix", "upper-case"],
)
async def test_a_signed_body_is_accepted(signed: TestClient[Any, Any], signature: Any) -> None:
    body = body_of()
    status, answer = await post_raw(signed, body, auth() | {HEADER: signature(body)})
    assert status == 200, answer
    assert answer["queued"] == 1


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        sign(body_of("another body")),
        sign(body_of(), b"another-secret"),
        sign(body_of())[:-1],
        "sha256=not-hex-at-all",
        "sha1=" + sign(body_of()),
    ],
    ids=["missing", "empty", "other-body", "other-secret", "truncated", "garbage", "other-algo"],
)
async def test_a_missing_or_wrong_signature_is_401(
    signed: TestClient[Any, Any], signature: str | None
) -> None:
    headers = auth() if signature is None else auth() | {HEADER: signature}
    status, answer = await post_raw(signed, body_of(), headers)
    assert (status, answer["error"]) == (401, "missing or wrong signature")
    assert await count_events(signed) == 0


async def test_a_header_that_is_not_ascii_is_401_not_500(signed: TestClient[Any, Any]) -> None:
    status, _ = await post_raw(signed, body_of(), auth() | {HEADER: "sha256=\u00e9\u00e9"})
    assert status == 401


async def test_the_bearer_token_is_still_required(signed: TestClient[Any, Any]) -> None:
    body = body_of()
    status, answer = await post_raw(signed, body, {HEADER: sign(body)})
    assert (status, answer["error"]) == (401, "missing or wrong bearer token")
    status, _ = await post_raw(signed, body, {"Authorization": "Bearer nope", HEADER: sign(body)})
    assert status == 401
    assert await count_events(signed) == 0


async def test_without_a_secret_bodies_need_no_signature(client: TestClient[Any, Any]) -> None:
    status, answer = await post_raw(client, body_of(), auth())
    assert status == 200, answer


async def test_the_secret_is_read_once_at_start(
    signed: TestClient[Any, Any], secret_file: Path
) -> None:
    await asyncio.to_thread(secret_file.write_bytes, b"changed-after-start")
    body = body_of()
    status, _ = await post_raw(signed, body, auth() | {HEADER: sign(body)})
    assert status == 200
    status, _ = await post_raw(signed, body, auth() | {HEADER: sign(body, b"changed-after-start")})
    assert status == 401


async def test_the_header_is_configurable(
    aiohttp_client: Any, db_url: str, secret_file: Path
) -> None:
    settings = make_settings(db_url, LUMEN_WEBHOOK_HMAC_SECRET_FILE=str(secret_file))
    header = settings.auth.model_copy(update={"webhook_hmac_header": "X-Hub-Signature-256"})
    settings = settings.model_copy(update={"auth": header})
    client: TestClient[Any, Any] = await aiohttp_client(TestServer(create_app(settings)))
    body = body_of()
    status, _ = await post_raw(
        client, body, auth() | {"X-Hub-Signature-256": f"sha256={sign(body)}"}
    )
    assert status == 200
    status, _ = await post_raw(client, body_of("b"), auth() | {HEADER: sign(body_of("b"))})
    assert status == 401


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), (b"", "is empty"), (b" \n", "is empty"), ("dir", "cannot read")],
    ids=["missing", "empty", "blank", "directory"],
)
def test_an_unusable_secret_file_is_a_startup_error(
    tmp_path: Path, content: bytes | str | None, expected: str
) -> None:
    path = tmp_path / "webhook.secret"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db", LUMEN_WEBHOOK_HMAC_SECRET_FILE=str(path)
    )
    with pytest.raises(ConfigError) as raised:
        create_app(settings)
    assert "auth.webhook_hmac_secret_file (LUMEN_WEBHOOK_HMAC_SECRET_FILE): " in str(raised.value)
    assert expected in str(raised.value) and str(path) in str(raised.value)


def test_serve_refuses_to_start_without_its_secret_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.secret"
    result = subprocess.run(
        [*BRIDGE, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env={
            **os.environ,
            "LUMEN_ALERT_TOKEN": ALERT_TOKEN,
            "LUMEN_WEBHOOK_HMAC_SECRET_FILE": str(missing),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"cannot read {missing}: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "lumen-bridge.db").exists()
