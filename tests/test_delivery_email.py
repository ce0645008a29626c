"""Pages by e-mail through a real SMTP server (aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from lumen_bridge.app import OUTBOX
from lumen_bridge.store.models import DeliveryAttempt
from tests.conftest import AppFactory, FakeClock, payload, post
from tests.helpers import rows
from tests.servers import SMTP_PASS, SMTP_USER, SmtpSink, eventually, self_signed_cert

KOREAN = "원격 무결성 해시 불일치"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def seed_alert(body: dict[str, Any], **annotations: str) -> dict[str, Any]:
    """The seed's integrity alert: Korean summary, no runbook annotation."""
    for alert in body["alerts"]:
        alert["annotations"] = {"summary": KOREAN, "description": "해시 비교 실패", **annotations}
    return body


async def mailer(make_client: AppFactory, sink: SmtpSink, **env: str) -> TestClient[Any, Any]:
    return await make_client(deliver=True, SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port), **env)


async def attempts(client: TestClient[Any, Any]) -> list[str]:
    return [result for (result,) in await rows(client, select(DeliveryAttempt.result))]


def text_and_html(message: Any) -> tuple[str, str]:
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return plain, html


async def test_page_arrives_with_korean_summary_and_runbook_link(
    make_client: AppFactory, smtp: SmtpSink
) -> None:
    client = await mailer(make_client, smtp, LUMEN_RUNBOOK_BASE_URL="https://rb.example/lumen")
    await post(client, seed_alert(payload()))
    await eventually(lambda: len(smtp.messages) == 1)
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["oncall@example.com"]
    assert mail.mail_from == "lumen@system.local"
    message = mail.message
    assert message["Subject"] == f"[FIRING:1] LumenIntegrityMismatch: {KOREAN}"
    plain, html = text_and_html(message)
    for part in (plain, html):
        assert KOREAN in part
        assert "해시 비교 실패" in part
        assert "https://rb.example/lumen#integrity" in part
        assert "http://vm:9093" in part  # Alertmanager
        assert "http://127.0.0.1:9090/graph?g0.expr=" in part  # generator
        assert "instance=remote-a" in part
        assert "lumen-1" in part  # the incident
    assert "Occurrences:  1" in plain
    assert '<a href="https://rb.example/lumen#integrity">' in html
    assert message["Message-ID"].endswith("@system.local>")
    await eventually(lambda: _has(client, "delivered"))


async def test_repeat_within_window_sends_nothing(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await mailer(make_client, smtp)
    await post(client, payload())
    await eventually(lambda: len(smtp.messages) == 1)
    clock.advance(minutes=5)
    assert (await post(client, payload()))["deduplicated"] == 1
    # A barrier: a page for another alert, decided after the repeat, arrives alone.
    await post(client, payload(fingerprint="other", labels={"instance": "remote-b"}))
    await eventually(lambda: len(smtp.messages) == 2)
    assert "instance=remote-b" in smtp.messages[1].message.get_body(("plain",)).get_content()
    await eventually(lambda: _has(client, "delivered", 2))
    assert len(smtp.messages) == 2


async def test_resolve_threads_under_its_page(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await mailer(make_client, smtp)
    await post(client, payload())
    await eventually(lambda: len(smtp.messages) == 1)
    clock.advance(minutes=3)
    await post(client, payload("resolved"))
    await eventually(lambda: len(smtp.messages) == 2)
    page, resolve = (m.message for m in smtp.messages)
    assert resolve["Subject"].strip().startswith("[RESOLVED:1] LumenIntegrityMismatch")
    assert resolve["In-Reply-To"] == page["Message-ID"]
    assert page["Message-ID"] in resolve["References"]
    assert resolve["Message-ID"] != page["Message-ID"]
    assert "RESOLVED" in resolve.get_body(("plain",)).get_content()


async def test_storm_of_200_alerts_is_one_email(make_client: AppFactory, smtp: SmtpSink) -> None:
    client = await mailer(make_client, smtp)
    answer = await post(client, payload(fingerprint="storm", n=200))
    assert answer["queued"] == 200
    await eventually(lambda: len(smtp.messages) == 1)
    [mail] = smtp.messages
    assert mail.message["Subject"] == "[FIRING:200] LumenIntegrityMismatch"
    plain, _ = text_and_html(mail.message)
    assert plain.startswith("200 alerts firing")
    for n in range(200):  # every alert is listed, in full or on a line of its own
        assert f"n={n}," in plain
    assert "190 more in this notification" in plain
    assert len(mail.raw) < 200_000


async def test_hostile_labels_add_no_recipient_and_run_no_script(
    make_client: AppFactory, smtp: SmtpSink
) -> None:
    client = await mailer(make_client, smtp)
    body = payload(labels={"alertname": "Evil\r\nBcc: victim@evil.example", "x": "<b>y</b>"})
    body["alerts"][0]["annotations"] = {
        "summary": "hi\r\nBcc: other@evil.example\r\n\r\nforged body",
        "description": "<script>alert(1)</script>",
        "runbook_url": "javascript:alert(2)",
    }
    await post(client, body)
    await eventually(lambda: len(smtp.messages) == 1)
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["oncall@example.com"]
    message = mail.message
    assert message["Bcc"] is None
    assert b"\nBcc:" not in mail.raw
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"].strip().startswith("[FIRING:1] Evil Bcc: victim@evil.example")
    _, html = text_and_html(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>y</b>" not in html
    assert 'href="javascript:' not in html


async def test_smtp_down_then_up_still_delivers(make_client: AppFactory, clock: FakeClock) -> None:
    sink = SmtpSink()  # not started yet: nothing listens on its port
    client = await mailer(make_client, sink)
    await post(client, payload())
    await eventually(lambda: _has(client, "retry"))
    sink.start()
    try:
        clock.advance(seconds=1)  # past the first retry's backoff
        client.app[OUTBOX].wake()
        await eventually(lambda: _has(client, "delivered"))
        assert await attempts(client) == ["retry", "delivered"]
        assert len(sink.messages) == 1
    finally:
        sink.stop()


async def _has(client: TestClient[Any, Any], result: str, count: int = 1) -> bool:
    return (await attempts(client)).count(result) == count


async def test_pending_row_survives_a_restart(make_client: AppFactory, smtp: SmtpSink) -> None:
    first = await make_client(deliver=False)  # the process dies before its worker ran
    await post(first, payload())
    await first.close()
    second = await mailer(make_client, smtp)
    await eventually(lambda: _has(second, "delivered"))
    assert await attempts(second) == ["delivered"]
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_tls_with_auth_and_a_private_ca(
    make_client: AppFactory, cert: tuple[Path, Path], mode: str
) -> None:
    sink = SmtpSink(cert=cert, implicit_tls=mode == "tls").start()
    try:
        client = await mailer(
            make_client,
            sink,
            SMTP_USER=SMTP_USER,
            SMTP_PASS=SMTP_PASS,
            SMTP_TLS=mode,
            SMTP_CA_FILE=str(cert[0]),
        )
        await post(client, seed_alert(payload()))
        await eventually(lambda: len(sink.messages) == 1)
        plain, _ = text_and_html(sink.messages[0].message)
        assert KOREAN in plain
        for n in (2, 3):  # later pages reuse the session: one TLS handshake, one AUTH
            await eventually(lambda n=n: _has(client, "delivered", n - 1))
            await post(client, payload(fingerprint=f"page-{n}", labels={"instance": f"r-{n}"}))
        await eventually(lambda: _has(client, "delivered", 3))
        assert len(sink.messages) == 3
        assert len(sink.logins) == 1
    finally:
        sink.stop()


async def test_wrong_smtp_password_is_permanent(
    make_client: AppFactory, cert: tuple[Path, Path]
) -> None:
    sink = SmtpSink(cert=cert).start()
    try:
        client = await mailer(
            make_client,
            sink,
            SMTP_USER=SMTP_USER,
            SMTP_PASS="wrong",
            SMTP_CA_FILE=str(cert[0]),
        )
        await post(client, payload())
        await eventually(lambda: _has(client, "dead"))
        assert await attempts(client) == ["dead"]
        assert sink.messages == []
    finally:
        sink.stop()


async def test_a_receiver_s_own_templates_replace_the_built_in_ones(
    make_client: AppFactory, smtp: SmtpSink, tmp_path: Path
) -> None:
    (tmp_path / "page.txt").write_text(
        "{{ headline }}\n{% for a in detailed %}{{ a.name }}: {{ a.summary }} {{ a.runbook_url }}"
        "\n{% endfor %}"
    )
    client = await mailer(make_client, smtp, LUMEN_MAIL_TEMPLATES=str(tmp_path))
    body = seed_alert(payload())
    body["alerts"][0]["annotations"]["summary"] = "<script>x</script>"
    await post(client, body)
    await eventually(lambda: len(smtp.messages) == 1)
    plain, html = text_and_html(smtp.messages[0].message)
    assert plain.replace("\r\n", "\n") == (
        "1 alert firing\n"
        "LumenIntegrityMismatch: <script>x</script> https://runbook.local/lumen#integrity\n"
    )
    assert '<th align="left">Summary</th>' in html  # no page.html there: the built-in one
    assert "&lt;script&gt;x&lt;/script&gt;" in html


async def test_an_html_template_of_ones_own_is_autoescaped(
    make_client: AppFactory, smtp: SmtpSink, tmp_path: Path
) -> None:
    (tmp_path / "page.html").write_text("<p>{{ detailed[0].summary }}</p>\n")
    client = await mailer(make_client, smtp, LUMEN_MAIL_TEMPLATES=str(tmp_path))
    body = payload()
    body["alerts"][0]["annotations"] = {"summary": "<img src=x onerror=alert(1)>"}
    await post(client, body)
    await eventually(lambda: len(smtp.messages) == 1)
    _, html = text_and_html(smtp.messages[0].message)
    assert html.replace("\r\n", "\n") == "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n"


async def test_a_page_links_the_console_when_the_bridge_knows_its_address(
    make_client: AppFactory, smtp: SmtpSink
) -> None:
    client = await mailer(make_client, smtp, LUMEN_EXTERNAL_URL="https://lumen.example.com")
    await post(client, payload())
    await eventually(lambda: len(smtp.messages) == 1)
    plain, html = text_and_html(smtp.messages[0].message)
    assert "On the bridge: https://lumen.example.com/ui/incidents/1" in plain
    assert "Silence it:   https://lumen.example.com/ui/silences?matchers=" in plain
    assert 'href="https://lumen.example.com/ui/incidents/1"' in html


async def test_without_its_address_a_page_has_no_console_links(
    make_client: AppFactory, smtp: SmtpSink
) -> None:
    client = await mailer(make_client, smtp)
    await post(client, payload())
    await eventually(lambda: len(smtp.messages) == 1)
    plain, _ = text_and_html(smtp.messages[0].message)
    assert "/ui/" not in plain
