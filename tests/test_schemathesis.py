"""Property-based tests of the whole HTTP API from its own ``/openapi.json`` (schemathesis).

Every operation, valid and invalid inputs, every phase (stateful sequences too) and every
check schemathesis has but ``use_after_free`` (a deleted silence stays readable, expired, as
in Alertmanager): no answer is a 5xx, and every answer is one the description names, in the
shape it gives. The bridge runs as ``lumen-bridge serve`` on SQLite and on PostgreSQL, and
schemathesis as its own command against it (aiohttp is neither ASGI nor WSGI, and the pytest
plugin of schemathesis 4 does not run under pytest 9).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lumen_bridge.api.openapi import build_spec
from tests.conftest import ADMIN_TOKEN, ALERT_TOKEN
from tests.procs import serve

SCHEMATHESIS = [str(Path(sys.executable).parent / "schemathesis")]
EXAMPLES = 50  # per operation and phase: the file runs in well under a minute

CONFIG = f"""
[generation]
mode = "all"
max-examples = {EXAMPLES}

[headers]
Authorization = "Bearer {ADMIN_TOKEN}"

# Each entry names its operations by path or by "METHOD path" (filters in one entry are
# alternatives, not all required). Valid by the description, yet refused with a 422 naming
# the field, as documented: text with a NUL (no database stores it), a time that leaves the
# years 1-9999 in UTC, a silence that ends in the past or whose matchers match everything or
# do not compile.
[[operations]]
include-path = "/webhook"
headers = {{ Authorization = "Bearer {ALERT_TOKEN}" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

[[operations]]
include-name = "POST /silence"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

[[operations]]
include-path = "/explain"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

# A filter of the incidents or the audit log with a NUL or a lone surrogate cannot match
# anything stored: 400.
[[operations]]
include-path = "/incidents"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]
[[operations]]
include-path = "/audit"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

# An id names something that may not exist (404); a notification to re-send must be dead
# (409); a filter is a string to the description and a matcher to the bridge (400 when it is
# not one), and a silence Alertmanager's API refuses is a 400 there too, as in Alertmanager.
[[operations]]
include-path-regex = '\\{{id\\}}$'
checks.positive_data_acceptance.expected-statuses = ["2xx", "404"]

[[operations]]
include-path = "/notifications/{{id}}/resend"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409"]

# A silence to extend may not exist (404) or have ended (409), and a new end may not be later
# than the current one or past an until-resolved silence's maximum (422, as documented).
[[operations]]
include-path = "/silence/{{id}}/extend"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

# An incident to acknowledge may not exist (404) or be resolved (409); a comment with a NUL is
# refused with a 422, as for silences.
[[operations]]
include-path = "/incidents/{{id}}/ack"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422"]

[[operations]]
include-name = "GET /api/v2/silences"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-name = "POST /api/v2/silences"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404"]

[[operations]]
include-path = "/api/v2/alerts"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]
"""


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_every_operation_every_check(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}"
        if database == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    env = {
        "LUMEN_DATABASE_URL": url,
        "LUMEN_ALERT_TOKEN": ALERT_TOKEN,
        "LUMEN_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    with serve(tmp_path, env) as base_url:
        result = subprocess.run(
            [
                *SCHEMATHESIS,
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{base_url}/openapi.json",
                "--checks",
                "all",
                # but one: DELETE /silence/{id} expires a silence, as Alertmanager's does, and
                # it stays readable, expired, as the description says; it is not gone
                "--exclude-checks",
                "use_after_free",
                "--workers",
                "1",
                "--continue-on-failure",
                "--wait-for-schema",  # serve answers 503 until it is ready
                "60",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    operations = sum(len(methods) for methods in build_spec()["paths"].values())
    assert re.search(rf"Tested: +{operations}\n", result.stdout), result.stdout
