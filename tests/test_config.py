"""Configuration loading, ${VAR} expansion, every error as file:line: key.path: message,
check-config, and an invalid file stopping serve and db upgrade."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from lumen_bridge.cli import main
from lumen_bridge.config import ConfigError, expand_env, load_settings, parse_duration
from tests.procs import BRIDGE

REPO = Path(__file__).parent.parent


def test_shipped_file_and_builtin_default_are_the_same_file() -> None:
    shipped = (REPO / "config" / "lumen-bridge.yaml").read_text()
    assert shipped == (REPO / "lumen_bridge" / "default.yaml").read_text()


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(REPO / "config" / "lumen-bridge.yaml", environ={})
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 9095)
    assert settings.database.url == "sqlite+aiosqlite:///lumen-bridge.db"
    assert settings.server.max_body_bytes == 4 * 1024 * 1024
    assert settings.dedup.window == timedelta(minutes=10)
    assert settings.auth.alert_token is None and settings.auth.admin_token is None
    oncall, backlog, default = settings.receivers
    assert oncall.type == "email" and oncall.to == ["oncall@example.com"]
    assert oncall.from_ == "lumen@system.local"
    assert (oncall.smtp.host, oncall.smtp.port, oncall.smtp.tls_mode) == ("localhost", 25, "none")
    assert backlog.type == "ticket" and backlog.url == "https://tickets.example.com/api/alerts"
    assert default.type == "webhook" and not default.has_destination
    assert settings.runbook.base_url == "https://runbook.local/lumen"
    assert not settings.suppression.flag


def test_expand_env_forms() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert expand_env("${SET} ${SET:-d} ${UNSET:-d} ${EMPTY:-d} [${UNSET}]", env) == "v v d d []"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400), ("500ms", 0.5), (30, 30)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "10", "ten minutes", "-5m", 0, True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_check_config_prints_errors_and_no_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "auth: {alert_token: s3cret-token, admin_token: [not, a, string]}\n"
        "receivers:\n"
        "  - {name: m, type: email, to: a@b.c, from: x@y.z, smtp: {password: hunter2, port: x}}\n"
    )
    with pytest.raises(SystemExit) as exited:
        main(["check-config", "--config", str(config)])
    assert exited.value.code != 0
    err = capsys.readouterr().err
    assert f"{config}:1: auth.admin_token: must be a single value, not a list or a mapping" in err
    assert f"{config}:3: receivers[0].smtp.port: must be a whole number" in err
    assert "hunter2" not in err and "s3cret-token" not in err


def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(REPO / "config" / "lumen-bridge.yaml")]) == 0
    out = capsys.readouterr().out
    assert "configuration OK" in out
    assert 'severity="page" -> oncall' in out


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  port: [1,\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert caught.value.errors == [
        f"{config}:3: expected the node content, but found '<stream end>'"
    ]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml", environ={})


def test_a_missing_smtp_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigError, match=r"smtp\.ca_file: .*no such file: .*nowhere\.pem"):
        load_settings(None, environ={"SMTP_CA_FILE": str(missing)})
    missing.write_text("-----BEGIN CERTIFICATE-----\n")
    load_settings(None, environ={"SMTP_CA_FILE": str(missing)})  # present: accepted


def test_check_config_renders_the_receivers_own_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.txt").write_text("{{ headline }}\n{{ no_such_variable }}\n")
    (templates / "page.html").write_text("<p>\n{% for a in detailed %}\n</p>\n")
    monkeypatch.setenv("LUMEN_MAIL_TEMPLATES", str(templates))
    with pytest.raises(SystemExit) as exited:
        main(["check-config", "--config", str(REPO / "config" / "lumen-bridge.yaml")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"receivers[0].templates: {templates}/page.txt: 'no_such_variable' is undefined" in err
    assert f"receivers[0].templates: {templates}/page.html, line 2: Unexpected end" in err


def test_a_missing_templates_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"templates: .*no such directory: .*/nowhere"):
        load_settings(None, environ={"LUMEN_MAIL_TEMPLATES": str(tmp_path / "nowhere")})


# A valid file; each case below breaks one line of it. Line numbers are the file's own.
VALID = """\
receivers:
  - name: oncall
    type: email
    to: oncall@example.com
    from: Lumen <lumen@example.com>
  - name: tickets
    type: ticket
    url: https://tickets.example.com/api
routes:
  - receiver: oncall
    matchers: ['severity="page"']
  - receiver: tickets
"""
URL_HINT = "must be an http(s) URL with a host, like https://tickets.example.com/api"
NO_URL = (
    "no URL, so nothing would be sent: set one, or say `optional: true` if this receiver "
    "should only record"
)


@pytest.mark.parametrize(
    ("line", "broken", "error"),
    [
        (
            "    url: https://tickets.example.com/api",
            "    url: not a url",
            f"8: receivers[1].url: {URL_HINT}",
        ),
        (
            "    url: https://tickets.example.com/api",
            "    url: http//tickets",
            f"8: receivers[1].url: {URL_HINT}",
        ),
        (
            "    url: https://tickets.example.com/api",
            "    url: ftp://x",
            f"8: receivers[1].url: {URL_HINT}",
        ),
        (
            "    url: https://tickets.example.com/api",
            "    url: 'https://'",
            f"8: receivers[1].url: {URL_HINT}",
        ),
        (
            "    url: https://tickets.example.com/api",
            "    timeout: 5s",
            f"6: receivers[1].url: {NO_URL}",
        ),
        (
            "    to: oncall@example.com",
            "    to: not-an-email",
            "4: receivers[0].to[0]: 'not-an-email' is not an e-mail address: write a bare "
            "address like oncall@example.com",
        ),
        (
            "    to: oncall@example.com",
            "    to: [oncall@example.com, Ops <ops@example.com>]",
            "4: receivers[0].to[1]: 'Ops <ops@example.com>' is not an e-mail address: write a "
            "bare address like oncall@example.com",
        ),
        (
            "    to: oncall@example.com",
            "    to: ''",
            "4: receivers[0].to: no address: name at least one, like oncall@example.com",
        ),
        (
            "    from: Lumen <lumen@example.com>",
            "    from: lumen",
            "5: receivers[0].from: 'lumen' is not an e-mail address: write one like "
            "lumen@example.com or Lumen <lumen@example.com>",
        ),
        (
            "    type: ticket",
            "    type: tiket",
            "7: receivers[1].type: unknown type 'tiket' (known types: email, ticket, webhook)",
        ),
        (
            "  - receiver: tickets",
            "  - receiver: ticket",
            "12: routes[1].receiver: no receiver is called 'ticket' (receivers: oncall, tickets)",
        ),
        (
            "    to: oncall@example.com",
            "    to: oncall@example.com\n    smtp: {host: mail, tsl: none}",
            "5: receivers[0].smtp.tsl: unknown key 'tsl' (known keys: host, port, user, "
            "password, tls, ca_file, timeout)",
        ),
        (
            "    from: Lumen <lumen@example.com>",
            "    from: Lumen <lumen@example.com>\n  - {name: oncall, type: ticket, optional: true}",
            "6: receivers[1].name: another receiver is already called 'oncall'",
        ),
    ],
)
def test_each_mistake_is_named_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, broken: str, error: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(VALID)
    assert main(["check-config", "--config", str(config)]) == 0  # the file before the mistake
    capsys.readouterr()
    assert line in VALID
    config.write_text(VALID.replace(line, broken, 1))
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert caught.value.errors == [f"{config}:{error}"]
    with pytest.raises(SystemExit) as exited:
        main(["check-config", "--config", str(config)])
    assert exited.value.code == 2
    assert f"{config}:{error}" in capsys.readouterr().err.splitlines()


def test_every_error_is_reported_at_once_in_the_files_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "auth: {tokn: s3cret-token, admin_token: 918273}\n"
        "server: {port: 70000}\n"
        "dedup: {window: soon}\n"
        "receivers:\n"
        "  - {name: hook, type: webhook, url: 'ftp://user:hunter2@files'}\n"
        "  - {name: mail, type: email, to: nobody, from: x@y.z, smtp: {password: hunter2, port: x}}"
        "\n"
        "routes:\n"
        "  - {reciever: hook, continue: maybe}\n"
        "  - {receiver: nobody, matchers: ['severity=~\"(\"']}\n"
    )
    with pytest.raises(SystemExit) as exited:
        main(["check-config", "--config", str(config)])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "lumen-bridge: invalid configuration, 12 errors:"
    assert lines[1:] == [
        f"{config}:1: auth.admin_token: must be text: put it in quotes",
        f"{config}:1: auth.tokn: unknown key 'tokn' (known keys: alert_token, admin_token, "
        "admin_tokens, webhook_hmac_secret_file, webhook_hmac_header)",
        f"{config}:2: server.port: must be at most 65535",
        f"{config}:3: dedup.window: invalid duration 'soon': use a number of seconds or e.g. "
        "90s, 10m, 2h",
        f"{config}:5: receivers[0].url: {URL_HINT}",
        f"{config}:6: receivers[1].smtp.port: must be a whole number",
        f"{config}:6: receivers[1].to[0]: 'nobody' is not an e-mail address: write a bare "
        "address like oncall@example.com",
        f"{config}:8: routes[0].continue: must be true or false",
        f"{config}:8: routes[0].receiver: required, but not set",
        f"{config}:8: routes[0].reciever: unknown key 'reciever' (known keys: receiver, "
        "matchers, continue, dedup_window, reopen_window, escalation)",
        lines[11],  # the matcher's own message, from its parser
        f"{config}:9: routes[1].receiver: no receiver is called 'nobody' (receivers: hook, mail)",
    ]
    assert lines[11].startswith(f"{config}:9: routes[1].matchers[0]: ")
    for secret in ("hunter2", "s3cret-token", "918273"):
        assert secret not in "\n".join(lines)


def test_an_empty_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text("")
    error = (
        f"{config}:1: routes: no route, so every alert would be ignored: add at least one "
        "(a route without matchers, like `- receiver: oncall`, catches everything)"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert caught.value.errors == [error]
    with pytest.raises(SystemExit) as exited:
        main(["check-config", "--config", str(config)])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "lumen-bridge: invalid configuration, 1 error:",
        error,
    ]


def test_a_receiver_without_url_only_records_when_it_says_so(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "receivers:\n"
        "  - {name: quiet, type: webhook, optional: true}\n"
        "  - {name: tickets, type: ticket, optional: true, url: 'http://127.0.0.1:1/t'}\n"
        "routes: [{receiver: quiet}, {receiver: tickets}]\n"
    )
    quiet, tickets = load_settings(config, environ={}).receivers
    assert not quiet.has_destination
    assert tickets.has_destination


SHIPPED = REPO / "config" / "lumen-bridge.yaml"


def test_the_shipped_default_is_valid_with_an_empty_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _variables(SHIPPED):
        monkeypatch.delenv(name, raising=False)
    assert main(["check-config", "--config", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert "receiver  default (webhook)  (no destination: records only)" in out


def test_the_shipped_default_is_valid_with_every_variable_set(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "hmac").write_text("secret\n")
    (tmp_path / "templates").mkdir()
    environ = {
        "LUMEN_ALERT_TOKEN": "alert-token",
        "LUMEN_ADMIN_TOKEN": "admin-token",
        "LUMEN_ADMIN_TOKENS": "alice=alice-token, bob.ops@example.com=bob-token",
        "LUMEN_WEBHOOK_HMAC_SECRET_FILE": str(tmp_path / "hmac"),
        "LUMEN_DATABASE_URL": "postgresql+asyncpg://lumen@db/lumen",
        "LUMEN_DATABASE_WRITER": "thread",
        "LUMEN_ALERT_SUPPRESSED": "1",
        "LUMEN_RUNBOOK_BASE_URL": "https://wiki.example.com/runbooks",
        "LUMEN_RETENTION": "7d",
        "LUMEN_ONCALL_TO": "a@example.com, b@example.com",
        "LUMEN_MAIL_FROM": "Lumen <lumen@example.com>",
        "SMTP_HOST": "mail.internal",
        "SMTP_PORT": "587",
        "SMTP_USER": "bot",
        "SMTP_PASS": "p: w #1, [x]",  # YAML syntax in a value is taken as it is
        "SMTP_TLS": "tls",
        "SMTP_CA_FILE": str(tmp_path / "ca.pem"),
        "LUMEN_MAIL_TEMPLATES": str(tmp_path / "templates"),
        "LUMEN_TICKET_URL": "https://tickets.internal/api/alerts",
        "LUMEN_TICKET_TOKEN": "ticket-token",
        "LUMEN_DEFAULT_WEBHOOK_URL": "http://127.0.0.1:1/hook",
        "LUMEN_DEFAULT_WEBHOOK_TOKEN": "hook-token",
        "LUMEN_ALERTMANAGER_URLS": "http://am1:9093,http://am2:9093",
        "LUMEN_RECONCILE_INTERVAL": "30s",
        "LUMEN_EXTERNAL_URL": "https://lumen.example.com",
    }
    assert set(environ) == _variables(SHIPPED)  # every variable the file reads
    settings = load_settings(SHIPPED, environ=environ)
    oncall, backlog, default = settings.receivers
    assert oncall.type == "email" and oncall.to == ["a@example.com", "b@example.com"]
    assert oncall.from_ == "Lumen <lumen@example.com>"
    assert (oncall.smtp.host, oncall.smtp.port, oncall.smtp.tls_mode) == (
        "mail.internal",
        587,
        "tls",
    )
    assert oncall.smtp.password is not None
    assert oncall.smtp.password.get_secret_value() == "p: w #1, [x]"
    assert backlog.type == "ticket" and backlog.url == "https://tickets.internal/api/alerts"
    assert default.has_destination
    assert settings.suppression.flag and settings.database.writer == "thread"
    assert settings.retention.max_age == timedelta(days=7)
    assert settings.alertmanagers.urls == ["http://am1:9093", "http://am2:9093"]
    assert settings.alertmanagers.interval == timedelta(seconds=30)
    assert settings.server.external_url == "https://lumen.example.com"
    assert settings.auth.alert_token is not None
    assert settings.auth.alert_token.get_secret_value() == "alert-token"
    admins = [(name, token.get_secret_value()) for name, token in settings.auth.admins()]
    assert admins == [
        ("admin", "admin-token"),
        ("alice", "alice-token"),
        ("bob.ops@example.com", "bob-token"),
    ]


def _variables(path: Path) -> set[str]:
    """The variables a file reads (its comments left out)."""
    code = "\n".join(line.partition("#")[0] for line in path.read_text().splitlines())
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", code))


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"]])
def test_an_invalid_configuration_stops_before_the_database(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "bad.yaml"
    database = tmp_path / "lumen.db"
    config.write_text(
        f"database: {{url: 'sqlite+aiosqlite:///{database}'}}\nroutes: [{{receiver: nobody}}]\n"
    )
    done = subprocess.run(
        [*BRIDGE, *command, "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[1:] == [
        f"{config}:2: routes[0].receiver: no receiver is called 'nobody' (receivers: none is "
        "defined)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_the_built_in_default_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/lumen-bridge.yaml here: the built-in file is read
    lines = (REPO / "lumen_bridge" / "default.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "${LUMEN_TICKET_URL" in text)
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"LUMEN_TICKET_URL": "tickets.internal/api"})
    assert caught.value.errors == [f"built-in default:{line}: receivers[1].url: {URL_HINT}"]
