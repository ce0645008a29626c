"""End to end: the pipeline's textfile to a page or a ticket, through real Prometheus,
node_exporter and an HA pair of Alertmanagers, with the shipped rules and config.

Run alone with ``pytest -m e2e``. See docs/e2e.md for what each scenario proves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import new_pg_database
from tests.e2e.chain import Chain, poll, running_chain

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

ALL_OK = [f"--stage={s}=ok:5" for s in ("build", "pdf", "freeze", "upload", "verify", "distribute")]


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    with running_chain(tmp_path, [f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}"]) as c:
        yield c


def text_of(message: EmailMessage) -> str:
    """The subject and every decoded text part of ``message``."""
    parts = [str(message["Subject"])]
    parts += [
        str(part.get_content()) for part in message.walk() if part.get_content_maintype() == "text"
    ]
    return "\n".join(parts)


def pages(chain: Chain, alertname: str) -> list[str]:
    """Subjects of the e-mails that mention ``alertname``."""
    return [str(m["Subject"]) for m in chain.mailbox.snapshot() if alertname in text_of(m)]


def repeats_seen(chain: Chain, occurrences: int, bridge: int = 0) -> bool:
    """Whether the bridge has received the firing integrity alert ``occurrences`` times."""
    return any(
        i["alertname"] == "LumenIntegrityMismatch" and i["occurrences"] >= occurrences
        for i in chain.incidents(bridge)
    )


def settle_quiet(chain: Chain) -> None:
    """Wait until no alert is active in Alertmanager and a few group intervals have passed."""
    poll(
        "alertmanager to have no active alert of the pipeline",
        lambda: (
            not [
                a
                for a in chain.alertmanager_alerts()
                if a["labels"].get("severity") in ("page", "ticket")
            ]
        ),
    )
    since = time.time()
    poll("three more rule evaluations", lambda: chain.rule_evaluations_after(since, 3))


def test_healthy_run_sends_nothing(chain: Chain) -> None:
    start = time.time()
    chain.emit(*ALL_OK)
    poll("five rule evaluations after the run", lambda: chain.rule_evaluations_after(start, 5))
    assert chain.prometheus_alerts() == []
    assert [str(m["Subject"]) for m in chain.mailbox.snapshot()] == []
    assert chain.tickets.snapshot() == []


def test_integrity_failure_pages_once_and_resolves_once(chain: Chain) -> None:
    flipped = time.monotonic()
    chain.emit(*ALL_OK, "--integrity", "fail")
    poll("the page e-mail", lambda: pages(chain, "LumenIntegrityMismatch"))
    page_after = time.monotonic() - flipped
    poll("Alertmanager's repeats reaching the bridge", lambda: repeats_seen(chain, 3))
    [page] = chain.mailbox.snapshot()
    assert "https://runbook.local/lumen#integrity" in text_of(page)

    recovered = time.monotonic()
    chain.emit(*ALL_OK, "--integrity", "ok")
    poll("the resolve e-mail", lambda: len(chain.mailbox.snapshot()) >= 2)
    resolve_after = time.monotonic() - recovered
    settle_quiet(chain)
    messages = chain.mailbox.snapshot()
    assert len(messages) == 2, [m["Subject"] for m in messages]  # no stale re-page
    resolve = messages[1]
    assert resolve["In-Reply-To"] == page["Message-ID"]
    print(f"\nflip → page {page_after:.1f} s; recovery → resolve {resolve_after:.1f} s")


def test_failed_stage_opens_and_resolves_one_ticket(chain: Chain) -> None:
    chain.emit(
        "--stage=build=ok",
        "--stage=pdf=fail:30",
        "--stage=freeze=ok",
        "--stage=upload=ok",
        "--stage=verify=ok",
        "--stage=distribute=ok",
    )
    poll("the ticket open", lambda: chain.tickets.snapshot())
    chain.emit(*ALL_OK)
    poll("the ticket resolve", lambda: len(chain.tickets.snapshot()) >= 2)
    settle_quiet(chain)
    requests = chain.tickets.snapshot()
    actions = [r["body"]["action"] for r in requests]
    assert actions == ["open", "resolve"], actions
    assert requests[0]["body"]["labels"]["stage"] == "pdf"
    assert requests[0]["body"]["dedup_key"] == requests[1]["body"]["dedup_key"]


def test_suppression_flag_holds_the_page_until_lowered(chain: Chain) -> None:
    start = time.time()
    chain.emit(*ALL_OK, "--integrity", "fail", "--suppressed", "1")
    poll(
        "the integrity alert firing in Prometheus",
        lambda: [
            a
            for a in chain.prometheus_alerts()
            if a["labels"]["alertname"] == "LumenIntegrityMismatch"
        ],
    )
    poll("five rule evaluations", lambda: chain.rule_evaluations_after(start, 5))
    assert pages(chain, "LumenIntegrityMismatch") == []

    chain.emit(*ALL_OK, "--integrity", "fail", "--suppressed", "0")
    poll("the page once the flag is down", lambda: pages(chain, "LumenIntegrityMismatch"))
    poll("Alertmanager's repeats reaching the bridge", lambda: repeats_seen(chain, 3))
    assert len(pages(chain, "LumenIntegrityMismatch")) == 1


@pytest.mark.postgres
def test_two_replicas_behind_the_pair_page_once(tmp_path: Path) -> None:
    with new_pg_database() as url, running_chain(tmp_path, [url, url]) as chain:
        chain.emit(*ALL_OK, "--integrity", "fail")
        poll("the page e-mail", lambda: pages(chain, "LumenIntegrityMismatch"))
        poll("Alertmanager's repeats reaching the replicas", lambda: repeats_seen(chain, 3))
        assert len(pages(chain, "LumenIntegrityMismatch")) == 1
