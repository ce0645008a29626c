"""``lumen-bridge emit-metrics``: the textfile exporter's command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from lumen_bridge.textfile_exporter import (
    DEFAULT_DIR,
    STAGES,
    TEXTFILE_NAME,
    InputError,
    PipelineRun,
    StageResult,
    parse_stage,
    write_textfile,
)

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "pipeline_run_from_args", "run"]

DESCRIPTION = """\
Write the pipeline's metrics to DIR/lumen.prom for node_exporter's textfile collector.

Run it as the last step of every pipeline run, whether the run succeeded or not. All six
stages (build, pdf, freeze, upload, verify, distribute) are written every time. Without any
--stage option every stage counts as successful (the seed's environment-only call); with
--stage options, a stage that is not named did not run: it reports success NaN (no stage
ticket) and the run counts as a failure. The run counters and the last success time are
carried over from the previous lumen.prom. The file is replaced atomically and left
world-readable (0644); on bad input nothing is written."""

EPILOG = f"""\
environment (used when the matching option is not given):
  LUMEN_TEXTFILE_DIR      --dir (default {DEFAULT_DIR})
  LUMEN_INTEGRITY_OK      --integrity: 1 = ok, 0 = fail (default 1)
  LUMEN_REPORT_OK         --report: 1 = ok, 0 = fail (default 1)
  LUMEN_ALERT_SUPPRESSED  --suppressed: 1 = raise the suppression flag (default 0)

examples:
  # every stage ran and succeeded, with durations in seconds
  lumen-bridge emit-metrics --stage build=ok:42 --stage pdf=ok:180 --stage freeze=ok:3 \\
      --stage upload=ok:95 --stage verify=ok:12 --stage distribute=ok:8

  # upload failed; verify and distribute did not run; the remote copy does not match
  lumen-bridge emit-metrics --stage build=ok --stage pdf=ok --stage freeze=ok \\
      --stage upload=fail:300 --integrity fail

  # the seed's call: results from the environment, every stage counted as successful
  LUMEN_INTEGRITY_OK=1 LUMEN_REPORT_OK=0 lumen-bridge emit-metrics --dir /tmp/textfile

  # hold back the pipeline's pages during maintenance (Alertmanager inhibits them)
  lumen-bridge emit-metrics --suppressed 1

exit status: 0 written, 2 bad input, 1 the file could not be written."""


def _flag(
    option: str, value: str | None, env: str, environ: Mapping[str, str], words: tuple[str, str]
) -> bool | None:
    """Read an ok/fail (or 1/0) option, falling back to its environment variable."""
    if value is not None:
        if value not in words:
            raise InputError(f"{option} must be {words[0]} or {words[1]}, not {value!r}")
        return value == words[0]
    raw = environ.get(env, "").strip()
    if not raw:
        return None
    if raw not in ("1", "0"):
        raise InputError(f"{env} must be 1 or 0, not {raw!r}")
    return raw == "1"


def pipeline_run_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> PipelineRun:
    """Build the run from the options, falling back to the seed's environment variables."""
    stages: dict[str, StageResult] = {}
    for text in args.stage or []:
        name, result = parse_stage(text)
        if name in stages:
            raise InputError(f"--stage {name} is given more than once")
        stages[name] = result
    if not stages:
        stages = {name: StageResult(ok=True) for name in STAGES}
    integrity = _flag("--integrity", args.integrity, "LUMEN_INTEGRITY_OK", environ, ("ok", "fail"))
    report = _flag("--report", args.report, "LUMEN_REPORT_OK", environ, ("ok", "fail"))
    suppressed = _flag(
        "--suppressed", args.suppressed, "LUMEN_ALERT_SUPPRESSED", environ, ("1", "0")
    )
    return PipelineRun(
        stages=stages,
        integrity_ok=integrity is not False,
        report_ok=report is not False,
        suppressed=suppressed is True,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emit-metrics options to ``parser``."""
    parser.add_argument(
        "--dir",
        metavar="DIR",
        help=f"textfile collector directory (env LUMEN_TEXTFILE_DIR, default {DEFAULT_DIR})",
    )
    parser.add_argument(
        "--stage",
        action="append",
        metavar="NAME=ok|fail[:SECONDS]",
        help=f"result of one stage ({'|'.join(STAGES)}); repeat for each stage that ran",
    )
    parser.add_argument(
        "--integrity", metavar="ok|fail", help="remote integrity check (env LUMEN_INTEGRITY_OK)"
    )
    parser.add_argument(
        "--report", metavar="ok|fail", help="the day's report was produced (env LUMEN_REPORT_OK)"
    )
    parser.add_argument(
        "--suppressed", metavar="0|1", help="suppression flag (env LUMEN_ALERT_SUPPRESSED)"
    )


def run(args: argparse.Namespace) -> int:
    """Write the textfile; return the exit code."""
    environ = os.environ
    try:
        pipeline_run = pipeline_run_from_args(args, environ)
    except InputError as exc:
        print(f"lumen-bridge emit-metrics: error: {exc}", file=sys.stderr)
        return 2
    directory = Path(args.dir or environ.get("LUMEN_TEXTFILE_DIR", "").strip() or DEFAULT_DIR)
    try:
        path = write_textfile(directory, pipeline_run, float(int(time.time())))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"lumen-bridge emit-metrics: error: cannot write {directory / TEXTFILE_NAME}: {reason}",
            file=sys.stderr,
        )
        return 1
    result = "success" if pipeline_run.succeeded else "failure"
    print(f"lumen-bridge emit-metrics: wrote {path} (run: {result})")
    return 0
