"""``lumen-bridge silence add|list|query|expire``: a client of the silence API, in amtool's style.

It talks to the bridge as :mod:`lumen_bridge.cli.client` says. Every failure is one line on
stderr and a non-zero exit: 2 for a bad command line (a matcher that does not parse), 1 for
what the bridge said or could not say (unreachable, 401, validation errors).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from lumen_bridge.api.silence_schemas import GettableSilence, SilenceMatcher, describe
from lumen_bridge.cli.client import CliError, base_url, call, run
from lumen_bridge.domain.matchers import MatcherError, parse_matcher

EPILOG = """\
matchers (amtool syntax, all must match):
  alertname=LumenStageFailed   stage=~"pdf|upload"   env!=dev   instance!~"test-.*"
  no matcher at all raises the global suppression flag: nothing is paged or ticketed.

examples:
  lumen-bridge silence add alertname=LumenStageFailed --duration 2h --comment "planned maintenance"
  lumen-bridge silence list
  lumen-bridge silence list --expired
  lumen-bridge silence query alertname=LumenStageFailed      # silences naming that alert
  lumen-bridge silence query -q | xargs lumen-bridge silence expire
  lumen-bridge silence expire 3f1c2a                         # a unique prefix of the id

environment: LUMEN_BRIDGE_URL (default http://127.0.0.1:9095), LUMEN_ADMIN_TOKEN.
"""


def _silence(data: Any) -> GettableSilence:
    try:
        return GettableSilence.model_validate(data)
    except ValidationError as exc:
        raise CliError(f"unexpected answer from {base_url()}: not a silence") from exc


async def _add(args: argparse.Namespace) -> None:
    try:
        matchers = [SilenceMatcher.of(parse_matcher(text)) for text in args.matchers]
    except MatcherError as exc:
        raise CliError(str(exc), code=2) from exc
    body = {
        "matchers": [m.model_dump(by_alias=True) for m in matchers],
        "duration": args.duration,
        "createdBy": args.author,
        "comment": args.comment,
    }
    created = _silence(await call("POST", "/silence", body))
    if not matchers:
        print(
            f"global suppression flag raised until {_time(created.ends_at)}: "
            "nothing is paged or ticketed",
            file=sys.stderr,
        )
    print(created.id)


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(silences: list[GettableSilence]) -> str:
    header = ("ID", "MATCHERS", "STATE", "ENDS", "AUTHOR", "COMMENT")
    rows = [header] + [
        (
            s.id,
            describe(s.matchers),
            s.status.state,
            _time(s.ends_at),
            s.created_by,
            " ".join(s.comment.split()),
        )
        for s in silences
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = (
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)


async def _list(args: argparse.Namespace) -> None:
    answer = await call("GET", "/silence?state=expired" if args.expired else "/silence")
    if not isinstance(answer, list):
        raise CliError(f"unexpected answer from {base_url()}: not a list of silences")
    silences = [_silence(item) for item in answer]
    if silences:
        print(_table(silences))
    else:
        print("no expired silences" if args.expired else "no active or pending silences")


async def _query(args: argparse.Namespace) -> None:
    try:
        filters = [str(parse_matcher(text)) for text in args.matchers]
    except MatcherError as exc:
        raise CliError(str(exc), code=2) from exc
    query = "&".join(f"filter={quote(f, safe='')}" for f in filters)
    answer = await call("GET", f"/api/v2/silences?{query}" if query else "/api/v2/silences")
    if not isinstance(answer, list):
        raise CliError(f"unexpected answer from {base_url()}: not a list of silences")
    found = [_silence(item) for item in answer]
    wanted = ("expired",) if args.expired else ("active", "pending")
    chosen = [s for s in found if s.status.state in wanted]
    if args.output == "json":
        print(json.dumps([s.model_dump(mode="json", by_alias=True) for s in chosen]))
    elif args.quiet:
        for s in chosen:
            print(s.id)
    elif chosen:
        print(_table(chosen))


async def _full_id(prefix: str) -> str:
    """The id of the one silence whose id starts with ``prefix`` (a whole id as it is)."""
    try:
        return str(uuid.UUID(prefix))
    except ValueError:
        pass
    answer = await call("GET", "/api/v2/silences")
    ids = sorted({str(item["id"]) for item in answer if str(item.get("id", "")).startswith(prefix)})
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise CliError(f"no silence id starts with {prefix!r}")
    raise CliError(f"{prefix!r} is the start of {len(ids)} silence ids: {', '.join(ids)}")


async def _expire(args: argparse.Namespace) -> None:
    for prefix in args.ids:
        silence_id = await _full_id(prefix)
        expired = _silence(await call("DELETE", f"/silence/{quote(silence_id, safe='')}"))
        print(f"{expired.id} expired at {_time(expired.ends_at)}")


def _default_author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "lumen-bridge"


def register(subcommands: Any) -> None:
    """Add ``silence`` and its actions to the ``lumen-bridge`` parser's subcommands."""
    silence = subcommands.add_parser(
        "silence",
        help="add, list, query or expire silences (a client of the bridge's silence API)",
        description="Silence alerts in the running bridge, like amtool does for Alertmanager.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = silence.add_subparsers(dest="silence_command", required=True, metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="silence the alerts the matchers match (no matcher: raise the global flag)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("matchers", nargs="*", metavar="MATCHER", help='e.g. stage=~"pdf|upload"')
    add.add_argument("--duration", default="1h", help="how long, e.g. 30m, 2h, 1d (default 1h)")
    add.add_argument("--comment", default="", help="why (shown in `silence list`)")
    add.add_argument("--author", default=_default_author(), help="who (default: the current user)")
    add.set_defaults(func=run, action=_add)

    listing = actions.add_parser("list", help="active and pending silences, as a table")
    listing.add_argument("--expired", action="store_true", help="list expired silences instead")
    listing.set_defaults(func=run, action=_list)

    query = actions.add_parser(
        "query",
        help="silences whose matchers satisfy the given ones (as amtool silence query)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query.add_argument("matchers", nargs="*", metavar="MATCHER", help="e.g. alertname=Foo")
    query.add_argument("--expired", action="store_true", help="expired silences instead")
    query.add_argument("-q", "--quiet", action="store_true", help="only the ids, one a line")
    query.add_argument("-o", "--output", choices=["table", "json"], default="table")
    query.set_defaults(func=run, action=_query)

    expire = actions.add_parser("expire", help="end silences now (what they held back is sent)")
    expire.add_argument("ids", nargs="+", metavar="ID", help="an id, or a unique start of one")
    expire.set_defaults(func=run, action=_expire)
