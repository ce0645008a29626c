"""`lumen-bridge silence ...` end to end, against a real `lumen-bridge serve` process."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lumen_bridge.cli import main
from tests.conftest import ALERT_TOKEN, payload
from tests.procs import BRIDGE, serve
from tests.test_silence_api import NOWHERE

ADMIN = "cli-admin-token"


def _http(method: str, url: str, body: Any = None, token: str = ADMIN) -> Any:
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@contextmanager
def bridge(workdir: Path) -> Iterator[str]:
    """A `lumen-bridge serve` on a free port with its own SQLite file; yields its URL when ready."""
    env = {
        **NOWHERE,
        "LUMEN_ADMIN_TOKEN": ADMIN,
        "LUMEN_ALERT_TOKEN": ALERT_TOKEN,
        "LUMEN_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bridge.db'}",
    }
    with serve(workdir, env) as url:
        yield url


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `lumen-bridge silence ARGS` in this process; return (exit code, stdout, stderr).

    In-process keeps the test fast on a busy machine; one test runs the real command.
    """

    def run(
        *args: str, url: str = "http://127.0.0.1:9", token: str = ADMIN
    ) -> tuple[int, str, str]:
        monkeypatch.setenv("LUMEN_BRIDGE_URL", url)
        monkeypatch.setenv("LUMEN_ADMIN_TOKEN", token)
        capsys.readouterr()
        code = main(["silence", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_add_list_expire_against_a_running_bridge(tmp_path: Path, cli: Cli) -> None:
    with bridge(tmp_path) as url:
        added = subprocess.run(  # the command itself, as an operator types it
            [
                *BRIDGE,
                "silence",
                "add",
                "alertname=LumenIntegrityMismatch",
                'instance=~"remote-.*"',
                "--duration",
                "2h",
                "--comment",
                "planned maintenance",
                "--author",
                "kim",
            ],
            env={**os.environ, "LUMEN_BRIDGE_URL": url, "LUMEN_ADMIN_TOKEN": ADMIN},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (added.returncode, added.stderr) == (0, ""), added.stderr
        silence_id = added.stdout.strip()
        answer = _http("POST", f"{url}/webhook", payload(), token=ALERT_TOKEN)
        assert answer["suppressed"] == 1

        code, out, _ = cli("list", url=url)
        assert code == 0
        header, row = out.splitlines()
        assert header.split() == ["ID", "MATCHERS", "STATE", "ENDS", "AUTHOR", "COMMENT"]
        assert row.startswith(silence_id)
        assert 'alertname="LumenIntegrityMismatch", instance=~"remote-.*"' in row
        assert " active " in row and " kim " in row and row.endswith("planned maintenance")

        code, out, _ = cli("expire", silence_id, url=url)
        assert code == 0
        assert out.startswith(f"{silence_id} expired at ")
        [incident] = _http("GET", f"{url}/incidents")["incidents"]
        assert (incident["held"], incident["notified"]) == (False, True)  # replayed at once

        assert cli("list", url=url)[1].strip() == "no active or pending silences"
        assert silence_id in cli("list", "--expired", url=url)[1]

        code, out, err = cli("add", "--duration", "10m", url=url)  # no matcher: the flag
        assert code == 0 and "global suppression flag raised" in err
        assert "(everything: the global flag)" in cli("list", url=url)[1]

        code, _, err = cli("list", url=url, token="wrong")
        assert code == 1
        assert err.strip() == (
            "lumen-bridge: the bridge refused the admin token (401): "
            "set LUMEN_ADMIN_TOKEN to its value"
        )
        code, _, err = cli("add", "a=b", "--duration", "2x", url=url)
        assert code == 1
        assert err.strip().startswith("lumen-bridge: not a valid silence (duration: invalid")
        code, _, err = cli("expire", "nope", url=url)
        assert (code, err.strip()) == (1, "lumen-bridge: no silence nope")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "stage~pdf"), 2, "lumen-bridge: bad matcher 'stage~pdf': expected NAME=VALUE"),
        (("add", 'stage=~"pdf("'), 2, "lumen-bridge: invalid regular expression"),
        (("list",), 1, "lumen-bridge: cannot reach the bridge at http://127.0.0.1:9: "),
    ],
)
def test_clear_one_line_errors(cli: Cli, args: tuple[str, ...], code: int, message: str) -> None:
    result = cli(*args)
    assert result[0] == code
    assert result[2].startswith(message), result[2]
    assert len(result[2].strip().splitlines()) == 1
