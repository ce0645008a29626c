"""On-call e-mail through SMTP (aiosmtplib): one page per outbox row, plain text plus HTML.

A row carries every alert of one webhook delivery for one receiver, so a storm is
one e-mail: the first alerts in full, the next ones a line each, the rest counted.
Label and annotation text is untrusted: headers, names, labels and summaries are
flattened to one line (no CR/LF, so no injected header, recipient or fake body
line), the HTML is autoescaped and only ``http(s)`` links become clickable.
Recipients come from the configuration only.
Each page's ``Message-ID`` is stable across retries; a resolve or reminder replies
to the pages sent before for the same incidents (``In-Reply-To``, ``References``).
Sessions are pooled per receiver (``POOL_SIZE`` open, ``POOL_MESSAGES`` pages each, idle
at most ``POOL_IDLE`` s), so TLS and AUTH happen once per session, not once per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, parseaddr
from typing import Any

import aiosmtplib
import jinja2
from markupsafe import Markup, escape

from lumen_bridge.clock import Clock
from lumen_bridge.config import EmailReceiver, RunbookConfig, Settings
from lumen_bridge.notifiers import Delivery, Earlier, Result, Verdict
from lumen_bridge.runbook import runbook_url

DETAILED = 10  # alerts shown in full
LISTED = 500  # alerts listed at all (one line each after the detailed ones)
SUBJECT_MAX = 200
REFERENCES_MAX = 10
POOL_SIZE = 4  # SMTP sessions open at once per receiver
POOL_MESSAGES = 100  # pages per session, then a new one
POOL_IDLE = 30.0  # seconds a session may idle in the pool (relays drop idle sessions)
SERVICE_CLOSING = 421  # the relay is closing the session

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
    built_in = jinja2.PackageLoader("lumen_bridge", "templates")
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
    page with each (``location: message`` lines, as :class:`ConfigError`'s)."""
    problems = []
    context = _context(_sample(), settings.runbook)
    for receiver in settings.receivers:
        if not isinstance(receiver, EmailReceiver) or receiver.templates is None:
            continue
        for name in TEMPLATES.values():
            try:
                page_templates(receiver.templates).get_template(name).render(context)
            except jinja2.TemplateError as exc:
                line = getattr(exc, "lineno", None)
                where = f"{receiver.templates}/{name}" + (f", line {line}" if line else "")
                problems.append(f"receivers.{receiver.name}.templates: {where}: {exc.message}")
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
    alertmanager_url: str
    generator_url: str


def _view(alert: dict[str, Any], runbooks: RunbookConfig) -> _AlertView:
    labels = sorted((one_line(k), one_line(v)) for k, v in alert["labels"].items())
    annotations: dict[str, str] = alert["annotations"]
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
        incident_id=alert["incident_id"],
        dedup_key=alert["dedup_key"],
        runbook_url=runbook_url(runbooks, alert["alertname"], annotations),
        alertmanager_url=alert["alertmanager_url"],
        generator_url=alert["generator_url"],
    )


def _context(delivery: Delivery, runbooks: RunbookConfig) -> dict[str, Any]:
    """What the templates see: ``headline``, the alerts shown in full (``detailed``), those
    listed a line each (``compact``) and the number not listed (``omitted``)."""
    views = [_view(a, runbooks) for a in delivery.alerts[:LISTED]]
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
    alerts = [
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


def subject(alerts: list[dict[str, Any]], resolved: bool) -> str:
    """``[FIRING:3] Name and 1 more`` or ``[RESOLVED:1] Name: summary``, on one line."""
    names = list(dict.fromkeys(a["alertname"] or "(no alertname)" for a in alerts))
    text = f"[{'RESOLVED' if resolved else 'FIRING'}:{len(alerts)}] {names[0]}"
    if len(names) > 1:
        text += f" and {len(names) - 1} more"
    elif len(alerts) == 1 and alerts[0]["annotations"].get("summary"):
        text += f": {alerts[0]['annotations']['summary']}"
    if not resolved and all(a["action"] == "update" for a in alerts):
        text += " (reminder)"
    return one_line(text, SUBJECT_MAX)


class EmailNotifier:
    """Sends pages for one e-mail receiver through its SMTP relay, on a few reused sessions."""

    def __init__(
        self,
        receiver: EmailReceiver,
        runbooks: RunbookConfig,
        clock: Clock,
        *,
        pool_size: int = POOL_SIZE,
        max_messages: int = POOL_MESSAGES,
        max_idle: float = POOL_IDLE,
    ) -> None:
        self.receiver = receiver
        self.runbooks = runbooks
        self.clock = clock
        self.templates = page_templates(receiver.templates)
        self.sender = parseaddr(receiver.from_)[1] or receiver.from_
        self.domain = self.sender.rpartition("@")[2] or "lumen-bridge.local"
        smtp = receiver.smtp
        self.tls_context = (
            ssl.create_default_context(cafile=smtp.ca_file) if smtp.tls_mode != "none" else None
        )
        self.local_hostname = socket.getfqdn()
        self.max_messages = max_messages
        self.max_idle = max_idle
        self._slots = asyncio.Semaphore(pool_size)  # a page holds one while it has a session
        self._idle: list[_Session] = []  # the most recently used last

    def build(self, delivery: Delivery) -> MIMEMultipart:
        """The page for ``delivery`` (multipart: plain text and HTML)."""
        resolved = delivery.action == "resolve"
        context = _context(delivery, self.runbooks)
        # The compat32 MIME classes: a third of the cost of EmailMessage's header registry,
        # which a page pays on its way to the relay. They check nothing: every header value
        # below is one line by construction.
        message = MIMEMultipart("alternative")
        message["Subject"] = _subject(subject(delivery.alerts, resolved))
        message["From"] = one_line(self.receiver.from_)
        message["To"] = one_line(", ".join(self.receiver.to))
        message["Date"] = format_datetime(self.clock())
        message["Message-ID"] = message_id(
            Earlier(delivery.idempotency_key, delivery.created_at), self.domain
        )
        if delivery.earlier:
            ids = [message_id(e, self.domain) for e in delivery.earlier]
            refs = ids[:1] + ids[1:][-(REFERENCES_MAX - 1) :]
            message["In-Reply-To"] = ids[-1]
            message["References"] = " ".join(refs)
        message["Auto-Submitted"] = "auto-generated"
        for subtype, name in TEMPLATES.items():
            message.attach(_text(subtype, self.templates.get_template(name).render(context)))
        return message

    async def send(self, delivery: Delivery) -> Result:
        """Hand the page to the relay; SMTP 5xx replies are permanent, the rest is retried.

        A pooled session found dead before DATA (the relay dropped it while idle) is
        replaced at once: only a failure on a fresh session counts.
        """
        try:
            async with self._slots:  # built only once a session is ours: bounded memory
                message = self.build(delivery)
                client = await self._checkout()
                if client is not None:
                    try:
                        await self._transmit(client, message)
                        return Result.delivered(250)
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        if not _dead_session(client, exc):
                            raise
                client = await self._connect()
                await self._transmit(client, message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            verdict = Verdict.PERMANENT if all(c >= 500 for c in codes) else Verdict.RETRY
            return Result(verdict, max(codes, default=None), f"recipients refused: {exc}")
        except aiosmtplib.SMTPResponseException as exc:
            verdict = Verdict.PERMANENT if exc.code >= 500 else Verdict.RETRY
            return Result(verdict, exc.code, f"SMTP {exc.code}: {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Result(Verdict.RETRY, error=f"{type(exc).__name__}: {exc}")
        return Result.delivered(250)

    async def close(self) -> None:
        """QUIT the idle sessions; call it once sends are over (a later send connects again)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client in idle))

    async def _checkout(self) -> _Session | None:
        """The most recently used idle session still fit for a page; QUIT the worn and stale."""
        now = time.monotonic()
        fit: list[_Session] = []
        spent: list[_Session] = []
        for client in self._idle:
            fresh = now - client.idle_since <= self.max_idle
            usable = client.is_connected and fresh and client.sent < self.max_messages
            (fit if usable else spent).append(client)
        self._idle = fit[:-1]
        await asyncio.gather(*(_quit(client) for client in spent))
        return fit[-1] if fit else None

    async def _connect(self) -> _Session:
        """A new session: connect, EHLO, STARTTLS or TLS, AUTH, as configured."""
        smtp = self.receiver.smtp
        client = _Session(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.user,
            password=smtp.password.get_secret_value() if smtp.password else None,
            use_tls=smtp.tls_mode == "tls",
            start_tls=smtp.tls_mode == "starttls",
            tls_context=self.tls_context,
            timeout=smtp.timeout.total_seconds(),
            local_hostname=self.local_hostname,
        )
        await client.connect()
        return client

    async def _transmit(self, client: _Session, message: MIMEMultipart) -> None:
        """Send ``message`` on ``client``, then pool it; after any failure, drop it instead."""
        client.in_data = False
        try:
            await client.send_message(message, sender=self.sender, recipients=self.receiver.to)
        except Exception:
            await _quit(client)
            raise
        except BaseException:  # cancelled: no time for a QUIT
            client.close()
            raise
        client.sent += 1
        client.idle_since = time.monotonic()
        self._idle.append(client)


class _Session(aiosmtplib.SMTP):
    """A pooled SMTP client that counts its pages and notes when a page reached DATA."""

    sent = 0  # pages accepted on this session
    idle_since = 0.0  # time.monotonic() when it last went back to the pool
    in_data = False  # the current page reached DATA: a lost session may have delivered it

    async def data(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        """DATA, noted first."""
        self.in_data = True
        return await super().data(*args, **kwargs)


def _dead_session(client: _Session, exc: Exception) -> bool:
    """Whether a reused session failed as a dropped one does: lost, or 421, before DATA."""
    if client.in_data:
        return False
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == SERVICE_CLOSING
    return isinstance(exc, ConnectionError)


async def _quit(client: aiosmtplib.SMTP) -> None:
    """QUIT if the session still stands, ignoring errors; the socket is closed either way."""
    try:
        if client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
    finally:
        client.close()
