"""``lumen-bridge silence add|list|query|extend|expire``: a client of the silence API, in
amtool's style.

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
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from lumen_bridge.api.schedule_schemas import WeeklySpec
from lumen_bridge.api.silence_schemas import GettableSilence, SilenceMatcher, describe
from lumen_bridge.cli.client import CliError, base_url, call, run
from lumen_bridge.cli.output import table, utc
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
  lumen-bridge silence add alertname=DiskFull --until-resolved --grace 10m
  lumen-bridge silence add job=backup --weekly 'sat,sun 22:00-02:00' --timezone Europe/Berlin \
      --duration 12w
  lumen-bridge silence add job=backup --cron '0 22 * * 6' --window 4h --timezone UTC --duration 12w
  lumen-bridge silence extend 3f1c2a --by 2h                  # or --until 2026-12-24T18:00:00Z

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
        "createdBy": args.author,
        "comment": args.comment,
        **_lifecycle(args),
    }
    if args.duration is not None or not args.until_resolved:  # until resolved: the maximum
        body["duration"] = args.duration or "1h"
    created = _silence(await call("POST", "/silence", body))
    if not matchers:
        print(
            f"global suppression flag raised until {utc(created.ends_at)}: "
            "nothing is paged or ticketed",
            file=sys.stderr,
        )
    print(created.id)


def _lifecycle(args: argparse.Namespace) -> dict[str, Any]:
    """The body's until-resolved and recurring-window fields from the flags (the bridge
    checks them and names what is wrong)."""
    body: dict[str, Any] = {}
    if args.until_resolved:
        body["untilResolved"] = True
    if args.grace is not None:
        body["grace"] = args.grace
    if args.weekly is not None or args.cron is not None or args.timezone is not None:
        if args.timezone is None:
            raise CliError("a recurring window needs --timezone, e.g. Europe/Berlin", code=2)
        try:
            weekly = None if args.weekly is None else WeeklySpec.parse(args.weekly).model_dump()
        except ValueError as exc:
            raise CliError(f"--weekly: {exc}", code=2) from None
        body["schedule"] = {
            "timezone": args.timezone,
            "weekly": weekly,
            "cron": args.cron,
            "window": args.window,
        }
    return body


def _ends(silence: GettableSilence) -> str:
    """The ENDS cell: the end, and how it may end sooner or when it holds."""
    text = utc(silence.ends_at)
    if silence.until_resolved:
        text += f", or {silence.grace} after its incidents resolved"
    if silence.schedule is not None:
        text += f", in windows {silence.schedule}"
        if silence.next_window is not None:
            text += f" (next closes {utc(silence.next_window.ends_at)})"
    return text


def _table(silences: list[GettableSilence]) -> str:
    header = ("ID", "MATCHERS", "STATE", "ENDS", "AUTHOR", "COMMENT")
    rows = [
        (
            s.id,
            describe(s.matchers),
            s.status.state,
            _ends(s),
            s.created_by,
            " ".join(s.comment.split()),
        )
        for s in silences
    ]
    return table(header, rows)


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
        print(
            json.dumps(
                [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in chosen]
            )
        )
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


async def _extend(args: argparse.Namespace) -> None:
    silence_id = await _full_id(args.id)
    body = {"by": args.by} if args.by is not None else {"endsAt": args.until}
    path = f"/silence/{quote(silence_id, safe='')}/extend"
    extended = _silence(await call("POST", path, body))
    print(f"{extended.id} now ends at {utc(extended.ends_at)}")


async def _expire(args: argparse.Namespace) -> None:
    for prefix in args.ids:
        silence_id = await _full_id(prefix)
        expired = _silence(await call("DELETE", f"/silence/{quote(silence_id, safe='')}"))
        print(f"{expired.id} expired at {utc(expired.ends_at)}")


def _default_author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "lumen-bridge"


def register(subcommands: Any) -> None:
    """Add ``silence`` and its actions to the ``lumen-bridge`` parser's subcommands."""
    silence = subcommands.add_parser(
        "silence",
        help="add, list, query, extend or expire silences (a client of the bridge's silence API)",
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
    add.add_argument(
        "--duration",
        help="how long, e.g. 30m, 2h, 1d (default 1h; with --until-resolved: the maximum)",
    )
    add.add_argument("--comment", default="", help="why (shown in `silence list`)")
    add.add_argument("--author", default=_default_author(), help="who (default: the current user)")
    add.add_argument(
        "--until-resolved",
        action="store_true",
        help="end once every incident it matches has resolved (--duration: the upper bound)",
    )
    add.add_argument("--grace", help="with --until-resolved: how long after the last resolve")
    add.add_argument("--weekly", help="recurring windows, e.g. 'sat,sun 22:00-02:00'")
    add.add_argument("--cron", help="or a window at each match of a cron expression")
    add.add_argument("--window", help="with --cron: how long each window lasts, e.g. 4h")
    add.add_argument("--timezone", help="the windows' time zone, e.g. Europe/Berlin")
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

    extend = actions.add_parser("extend", help="end a silence in force later")
    extend.add_argument("id", metavar="ID", help="an id, or a unique start of one")
    later = extend.add_mutually_exclusive_group(required=True)
    later.add_argument("--by", help="this much after its current end, e.g. 2h")
    later.add_argument("--until", help="this time, e.g. 2026-12-24T18:00:00Z")
    extend.set_defaults(func=run, action=_extend)

    expire = actions.add_parser("expire", help="end silences now (what they held back is sent)")
    expire.add_argument("ids", nargs="+", metavar="ID", help="an id, or a unique start of one")
    expire.set_defaults(func=run, action=_expire)
