"""A page: the e-mail for one outbox row, plain text plus HTML, from Jinja2 templates.

A row carries every alert of one webhook delivery for one receiver, so a storm is one
e-mail: the first alerts in full, the next ones a line each, the rest counted. Label and
annotation text is untrusted: headers, names, labels and summaries are flattened to one
line (no CR/LF, so no injected header, recipient or fake body line), the HTML is
autoescaped and only ``http(s)`` links become clickable. Each page's ``Message-ID`` is
stable across retries; a resolve or reminder replies to the pages sent before for the same
incidents (``In-Reply-To``, ``References``). A receiver's ``templates`` directory may
replace the built-in ``page.txt`` and ``page.html`` (docs/delivery.md).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime
from typing import Any

import jinja2
from markupsafe import Markup, escape

from lumen_bridge.config import EmailReceiver, RunbookConfig, Settings
from lumen_bridge.domain.notification import AlertSnapshot, Delivery, Earlier
from lumen_bridge.notifiers.ack_links import AckLinks
from lumen_bridge.notifiers.links import incident_url, silence_url
from lumen_bridge.notifiers.runbook import runbook_url

__all__ = ["build_page", "check_templates", "message_id", "one_line", "page_templates", "subject"]

DETAILED = 10  # alerts shown in full
LISTED = 500  # alerts listed at all (one line each after the detailed ones)
SUBJECT_MAX = 200
REFERENCES_MAX = 10

_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP

TEMPLATES = {"plain": "page.txt", "html": "page.html"}
"""A page's templates, by the MIME subtype of the part each makes."""


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` as a single header-safe line: control characters and line breaks become spaces."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    flat = " ".join(cleaned.split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def _link(url: str) -> Markup:
    if url.startswith(("http://", "https://")):
        return Markup('<a href="{0}">{0}</a>').format(url)
    return escape(url or "-")


@functools.cache
def page_templates(directory: str | None) -> jinja2.Environment:
    """The Jinja2 templates of a receiver's pages: those in ``directory`` (its ``templates``
    setting) first, the built-in ones for the rest. ``.html`` ones are autoescaped, and an
    undefined variable is an error, not an empty string."""
    built_in = jinja2.PackageLoader("lumen_bridge.notifiers.email", "templates")
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(directory), built_in] if directory else [built_in]
        ),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.globals["link"] = _link
    return environment


def check_templates(settings: Settings) -> list[str]:
    """What is wrong with the e-mail receivers' own templates, found by rendering a sample
    page with each (``key.path: message`` lines, keys as the file names them)."""
    problems = []
    context = _context(_sample(), settings.runbook, settings.server.external_url)
    for index, receiver in enumerate(settings.receivers):
        if not isinstance(receiver, EmailReceiver) or receiver.templates is None:
            continue
        for name in TEMPLATES.values():
            try:
                page_templates(receiver.templates).get_template(name).render(context)
            except jinja2.TemplateError as exc:
                line = getattr(exc, "lineno", None)
                where = f"{receiver.templates}/{name}" + (f", line {line}" if line else "")
                problems.append(f"receivers[{index}].templates: {where}: {exc.message}")
    return problems


def _subject(value: str) -> str:
    """The ``Subject`` value, its non-ASCII words RFC 2047-encoded as UTF-8, folded."""
    header = Header(header_name="Subject")
    for ascii_, words in itertools.groupby(value.split(" "), key=str.isascii):
        header.append(" ".join(words), "us-ascii" if ascii_ else "utf-8")
    return header.encode()


def _text(subtype: str, content: str) -> MIMENonMultipart:
    """A UTF-8 text part, quoted-printable: ASCII (names, labels, links) stays legible."""
    part = MIMENonMultipart("text", subtype)
    part.set_payload(content, charset=_UTF8_QP)
    return part


def message_id(earlier: Earlier, domain: str) -> str:
    """The ``Message-ID`` of a page: its outbox key plus its creation time (unique per database)."""
    return f"<{earlier.idempotency_key}.{earlier.created_at:%Y%m%d%H%M%S%f}@{domain}>"


@dataclass(frozen=True, slots=True)
class _AlertView:
    name: str
    status_word: str
    reminder: bool
    summary: str
    description: str
    labels: list[tuple[str, str]]
    labels_text: str
    starts_at: str
    ends_at: str | None
    occurrences: int
    incident_id: int
    dedup_key: str
    runbook_url: str
    incident_url: str | None
    silence_url: str | None
    alertmanager_url: str
    generator_url: str
    ack_url: str | None
    escalation: int | None
    """The escalation level of an escalation page (docs/lifecycle.md), else None."""


def _view(
    alert: AlertSnapshot,
    runbooks: RunbookConfig,
    external_url: str | None,
    ack_url: str | None = None,
) -> _AlertView:
    labels = sorted((one_line(k), one_line(v)) for k, v in alert["labels"].items())
    annotations = alert["annotations"]
    return _AlertView(
        name=one_line(alert["alertname"]) or "(no alertname)",
        status_word="RESOLVED" if alert["status"] == "resolved" else "FIRING",
        reminder=alert["action"] == "update",
        summary=one_line(annotations.get("summary", "")),
        description=annotations.get("description", "").replace("\r", ""),
        labels=labels,
        labels_text=", ".join(f"{k}={v}" for k, v in labels),
        starts_at=alert["starts_at"],
        ends_at=alert["ends_at"],
        occurrences=alert["occurrences"],
        incident_id=alert["incident_id"] or 0,
        dedup_key=alert["dedup_key"],
        runbook_url=runbook_url(runbooks, alert["alertname"], annotations),
        incident_url=incident_url(external_url, alert["incident_id"]),
        silence_url=silence_url(external_url, alert["labels"]),
        alertmanager_url=alert["alertmanager_url"],
        generator_url=alert["generator_url"],
        ack_url=ack_url,
        escalation=alert.get("escalation_level"),
    )


def _context(
    delivery: Delivery,
    runbooks: RunbookConfig,
    external_url: str | None = None,
    ack_url: Callable[[AlertSnapshot], str | None] | None = None,
) -> dict[str, Any]:
    """What the templates see: ``headline``, the alerts shown in full (``detailed``), those
    listed a line each (``compact``) and the number not listed (``omitted``)."""
    views = [
        _view(a, runbooks, external_url, ack_url(a) if ack_url else None)
        for a in delivery.alerts[:LISTED]
    ]
    count = len(delivery.alerts)
    return {
        "headline": f"{count} alert{'s' if count != 1 else ''} "
        f"{'resolved' if delivery.action == 'resolve' else 'firing'}",
        "detailed": views[:DETAILED],
        "compact": views[DETAILED:],
        "omitted": count - len(views),
    }


def _sample() -> Delivery:
    """A page of eleven firing alerts (ten shown in full, one listed), to try templates on."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    alerts: list[AlertSnapshot] = [
        {
            "incident_id": n,
            "fingerprint": f"sample-{n}",
            "dedup_key": f"lumen-{n}",
            "action": "open",
            "status": "firing",
            "alertname": "LumenStageFailed",
            "severity": "page",
            "labels": {"alertname": "LumenStageFailed", "severity": "page", "stage": f"s{n}"},
            "annotations": {"summary": "a stage failed", "description": "see the runbook"},
            "starts_at": now.isoformat(),
            "ends_at": None,
            "occurrences": 1,
            "generator_url": "http://prometheus.local/graph",
            "alertmanager_url": "http://alertmanager.local",
            "group_key": "{}:{}",
        }
        for n in range(1, DETAILED + 2)
    ]
    return Delivery(1, "sample", "firing", "lumen-1-open-1", now, 1, alerts)


def subject(alerts: list[AlertSnapshot], resolved: bool) -> str:
    """``[FIRING:3] Name and 1 more`` or ``[RESOLVED:1] Name: summary``, on one line."""
    names = list(dict.fromkeys(a["alertname"] or "(no alertname)" for a in alerts))
    text = f"[{'RESOLVED' if resolved else 'FIRING'}:{len(alerts)}] {names[0]}"
    if len(names) > 1:
        text += f" and {len(names) - 1} more"
    elif len(alerts) == 1 and alerts[0]["annotations"].get("summary"):
        text += f": {alerts[0]['annotations']['summary']}"
    if not resolved and all(a["action"] == "update" for a in alerts):
        text += " (reminder)"
    levels = [a.get("escalation_level") for a in alerts]
    if all(levels):
        text += f" (escalation, level {max(level or 0 for level in levels)})"
    return one_line(text, SUBJECT_MAX)


def build_page(
    delivery: Delivery,
    receiver: EmailReceiver,
    runbooks: RunbookConfig,
    templates: jinja2.Environment,
    now: datetime,
    domain: str,
    external_url: str | None = None,
    ack_links: AckLinks | None = None,
) -> MIMEMultipart:
    """The page for ``delivery`` to ``receiver``: multipart, plain text and HTML, from
    ``templates`` (:func:`page_templates`); its ``Message-ID`` in ``domain``; links to the
    console when ``external_url`` (``server.external_url``) is set, and to acknowledge each
    firing alert with ``ack_links``."""
    resolved = delivery.action == "resolve"
    ack_url = None if ack_links is None else functools.partial(ack_links.url, now=now)
    context = _context(delivery, runbooks, external_url, ack_url)
    # The compat32 MIME classes: a third of the cost of EmailMessage's header registry,
    # which a page pays on its way to the relay. They check nothing: every header value
    # below is one line by construction.
    message = MIMEMultipart("alternative")
    message["Subject"] = _subject(subject(delivery.alerts, resolved))
    message["From"] = one_line(receiver.from_)
    message["To"] = one_line(", ".join(receiver.to))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(
        Earlier(delivery.idempotency_key, delivery.created_at), domain
    )
    if delivery.earlier:
        ids = [message_id(e, domain) for e in delivery.earlier]
        refs = ids[:1] + ids[1:][-(REFERENCES_MAX - 1) :]
        message["In-Reply-To"] = ids[-1]
        message["References"] = " ".join(refs)
    message["Auto-Submitted"] = "auto-generated"
    for subtype, name in TEMPLATES.items():
        message.attach(_text(subtype, templates.get_template(name).render(context)))
    return message
