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
        assert (code, err.strip()) == (1, "lumen-bridge: no silence id starts with 'nope'")


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


def test_query_filters_like_amtool_and_expire_takes_a_unique_prefix(
    tmp_path: Path, cli: Cli
) -> None:
    with bridge(tmp_path) as url:
        code, foo, err = cli("add", "alertname=Foo", "env=prod", "--comment=a", url=url)
        assert code == 0, err
        code, bar, err = cli("add", "alertname=Bar", "--comment=b", url=url)
        assert code == 0, err
        foo, bar = foo.strip(), bar.strip()

        code, out, _ = cli("query", "alertname=Foo", "-q", url=url)
        assert (code, out.split()) == (0, [foo])
        code, out, _ = cli("query", "-o", "json", url=url)
        assert {s["id"] for s in json.loads(out)} == {foo, bar}
        code, out, _ = cli("query", "alertname=Nope", url=url)
        assert (code, out) == (0, "")

        prefix = next(  # the shortest start of foo's id that bar's does not share
            foo[:n] for n in range(1, 37) if not bar.startswith(foo[:n])
        )
        code, out, err = cli("expire", prefix, url=url)
        assert code == 0, err
        assert out.startswith(f"{foo} expired at")
        code, out, _ = cli("query", "--expired", "-q", url=url)
        assert out.split() == [foo]

        code, _, err = cli("expire", "zzz", url=url)
        assert code == 1
        assert "no silence id starts with 'zzz'" in err
        by_first: dict[str, list[str]] = {}
        for silence_id in (foo, bar):
            by_first.setdefault(silence_id[0], []).append(silence_id)
        while all(len(ids) < 2 for ids in by_first.values()):  # 17 ids at most: 16 hex digits
            code, out, err = cli("add", "alertname=More", "--comment=c", url=url)
            assert code == 0, err
            by_first.setdefault(out[0], []).append(out.strip())
        first, ids = next((k, v) for k, v in by_first.items() if len(v) == 2)
        code, _, err = cli("expire", first, url=url)
        assert code == 1
        assert f"'{first}' is the start of 2 silence ids: {', '.join(sorted(ids))}" in err
