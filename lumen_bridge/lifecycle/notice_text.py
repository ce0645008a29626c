"""What a silence's reminder and digest say (docs/silences.md): plain text, written once
when queued, so that a retry an hour later says the same.

Labels, comments and authors are untrusted: the subject and every listed incident are one
line (:func:`~lumen_bridge.notifiers.email.render.one_line`); the e-mail is plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from lumen_bridge.domain.matchers import from_api
from lumen_bridge.domain.notification import Notice
from lumen_bridge.notifiers.email.render import SUBJECT_MAX, one_line
from lumen_bridge.notifiers.links import incident_url
from lumen_bridge.store.notices import SeenIncident
from lumen_bridge.store.silences import SilenceRecord

__all__ = ["digest", "reminder"]

LISTED = 50  # incidents listed per section; the rest are counted
LABELS_MAX = 200  # characters of an incident's other labels


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _matchers(silence: SilenceRecord) -> str:
    if not silence.matchers:
        return "(none: the suppression flag, every alert)"
    return one_line(" ".join(str(from_api(m)) for m in silence.matchers))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _about(silence: SilenceRecord) -> list[str]:
    return [
        f"Silence:  {silence.id}",
        f"Matchers: {_matchers(silence)}",
        f"Comment:  {one_line(silence.comment) or '-'}",
        f"Author:   {one_line(silence.created_by) or '-'}",
        f"Active:   {_when(silence.starts_at)} until {_when(silence.ends_at)}",
    ]


def _section(
    title: str,
    incidents: Sequence[SeenIncident],
    external_url: str | None,
    note: Callable[[SeenIncident], str] = lambda _: "",
) -> list[str]:
    """``title``, then a line (and a console link) per incident, the first :data:`LISTED`."""
    if not incidents:
        return []
    lines = ["", f"{title} ({len(incidents)}):"]
    for incident in incidents[:LISTED]:
        others = sorted(
            (k, v) for k, v in incident.labels.items() if k not in ("alertname", "severity")
        )
        labels = one_line(", ".join(f"{k}={v}" for k, v in others), LABELS_MAX)
        lines.append(
            f"- {one_line(incident.alertname) or '(no alertname)'}"
            f" [{one_line(incident.severity or '-')}] {labels}"
            f" (incident {incident.id}, {one_line(incident.receiver)}){note(incident)}"
        )
        link = incident_url(external_url, incident.id)
        if link is not None:
            lines.append(f"  {link}")
    if len(incidents) > LISTED:
        lines.append(f"  ... and {len(incidents) - LISTED} more")
    return lines


def _extend(silence: SilenceRecord, external_url: str | None) -> list[str]:
    lines = [
        "",
        "To keep holding them back, extend the silence:",
        f"  lumen-bridge silence extend {silence.id} --by 1h",
    ]
    if external_url:
        lines.append(f"or in the console: {external_url.rstrip('/')}/ui/silences")
    return lines


def reminder(
    silence: SilenceRecord,
    paging: Sequence[SeenIncident],
    to: list[str],
    external_url: str | None,
) -> Notice:
    """The reminder that ``silence`` ends soon and that ``paging`` will then be notified."""
    count = _plural(len(paging), "incident")
    subject = (
        f"[SILENCE ENDING] {count} will page at {_when(silence.ends_at)}: {_matchers(silence)}"
    )
    lines = [
        f"A silence ends at {_when(silence.ends_at)}, and {count} it holds back"
        f" {'is' if len(paging) == 1 else 'are'} still firing: notified when it ends.",
        "",
        *_about(silence),
        *_section("Will page when it ends", paging, external_url),
        *_extend(silence, external_url),
    ]
    return Notice(subject=one_line(subject, SUBJECT_MAX), text="\n".join(lines) + "\n", to=to)


def digest(
    silence: SilenceRecord,
    held: Sequence[SeenIncident],
    still_held: Callable[[SeenIncident], bool],
    to: list[str],
    external_url: str | None,
) -> Notice:
    """The digest of ``silence``'s end: ``held`` (what it was in force over), split into the
    incidents still firing and those resolved meanwhile; ``still_held`` tells the firing
    ones that another silence or the flag still holds back."""
    firing = [i for i in held if i.firing]
    resolved = [i for i in held if not i.firing]
    subject = (
        f"[SILENCE ENDED] held {len(held)}: {len(firing)} still firing,"
        f" {len(resolved)} resolved: {_matchers(silence)}"
    )
    lines = [
        f"A silence ended at {_when(silence.ends_at)}. While it was in force,"
        f" {_plural(len(held), 'incident')} it matches fired: {len(firing)} still"
        f" {'fires' if len(firing) == 1 else 'fire'}, {len(resolved)} resolved meanwhile.",
        "Those it held back that still fire are notified now, once, unless another silence"
        " or the flag still holds them.",
        "",
        *_about(silence),
        *_section(
            "Still firing",
            firing,
            external_url,
            lambda i: " - still held by another silence or the flag" if still_held(i) else "",
        ),
        *_section("Resolved meanwhile", resolved, external_url),
    ]
    return Notice(subject=one_line(subject, SUBJECT_MAX), text="\n".join(lines) + "\n", to=to)
