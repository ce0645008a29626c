"""Configuration loading, ${VAR} expansion, errors as location: message, check-config."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lumen_bridge.cli import main
from lumen_bridge.config import ConfigError, expand_env, load_settings, parse_duration

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


def test_environment_fills_the_shipped_file() -> None:
    settings = load_settings(
        None,
        environ={
            "LUMEN_ALERT_TOKEN": "a",
            "SMTP_HOST": "mail.internal",
            "SMTP_PORT": "587",
            "SMTP_USER": "bot",
            "SMTP_PASS": "pw",
            "LUMEN_ONCALL_TO": "a@x.org, b@x.org",
            "LUMEN_ALERT_SUPPRESSED": "1",
            "LUMEN_DEFAULT_WEBHOOK_URL": "http://127.0.0.1:1/hook",
        },
    )
    oncall = settings.receivers[0]
    assert oncall.type == "email"
    assert oncall.to == ["a@x.org", "b@x.org"]
    smtp = oncall.smtp
    assert (smtp.host, smtp.port, smtp.tls_mode) == ("mail.internal", 587, "starttls")
    assert settings.suppression.flag
    assert settings.receivers[2].has_destination
    assert settings.auth.alert_token is not None
    assert settings.auth.alert_token.get_secret_value() == "a"


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


def test_every_error_is_reported_with_its_location(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "server: {port: 70000, colour: blue}\n"
        "dedup: {window: soon}\n"
        "routes: [{receiver: nobody, matchers: ['severity=~\"(\"']}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    text = "\n".join(caught.value.errors)
    assert "server.port: " in text
    assert "server.colour: Extra inputs are not permitted" in text
    assert "dedup.window: " in text
    assert "routes.0.matchers.0: " in text


def test_unknown_receiver_in_route(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("routes: [{receiver: nobody}]\n")
    with pytest.raises(ConfigError, match="unknown receivers: nobody"):
        load_settings(config, environ={})


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
    assert "auth.admin_token: " in err
    assert "receivers.0.email.smtp.port: " in err
    assert "hunter2" not in err and "s3cret-token" not in err


def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(REPO / "config" / "lumen-bridge.yaml")]) == 0
    out = capsys.readouterr().out
    assert "configuration OK" in out
    assert 'severity="page" -> oncall' in out


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  port: [1,\n")
    with pytest.raises(ConfigError, match=r"line \d+"):
        load_settings(config, environ={})


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
    assert (
        f"receivers.oncall.templates: {templates}/page.txt: 'no_such_variable' is undefined" in err
    )
    assert f"receivers.oncall.templates: {templates}/page.html, line 2: Unexpected end" in err


def test_a_missing_templates_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"templates: .*no such directory: .*/nowhere"):
        load_settings(None, environ={"LUMEN_MAIL_TEMPLATES": str(tmp_path / "nowhere")})
