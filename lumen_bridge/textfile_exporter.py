"""The daily report pipeline's textfile exporter (``emit-metrics``) for node_exporter.

Not the webhook pipeline: this is what the pipeline the bridge watches writes, through
:mod:`lumen_bridge.cli.emit_metrics`, at the end of each of its runs.

Every run rewrites ``lumen.prom`` atomically (prometheus-client's ``write_to_textfile``:
temp file + rename) with all of the pipeline's metrics. The run counters
(``lumen_pipeline_runs_total``) and ``lumen_pipeline_last_success_timestamp`` are carried
over from the previous ``lumen.prom``, so the file itself is the state; no other file is kept.

A stage that did not run (not named by any ``--stage`` while others are) is written with
``lumen_pipeline_success`` NaN and duration 0: NaN is neither 0 (no stage ticket) nor 1 (not
healthy), and the run is counted as a failure unless all six stages ran and succeeded.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

STAGES = ("build", "pdf", "freeze", "upload", "verify", "distribute")
TEXTFILE_NAME = "lumen.prom"
DEFAULT_DIR = "/var/lib/node_exporter/textfile_collector"
FILE_MODE = 0o644


class InputError(ValueError):
    """An option or environment value that emit-metrics cannot accept."""


@dataclass(frozen=True)
class StageResult:
    """The outcome of one stage that ran; ``seconds`` is None when not measured."""

    ok: bool
    seconds: float | None = None


@dataclass(frozen=True)
class PipelineRun:
    """What one pipeline run reports: the stages that ran and the run-level checks."""

    stages: Mapping[str, StageResult]
    integrity_ok: bool
    report_ok: bool
    suppressed: bool

    @property
    def succeeded(self) -> bool:
        """True when all six stages ran and succeeded."""
        return all(name in self.stages and self.stages[name].ok for name in STAGES)


@dataclass(frozen=True)
class History:
    """What is carried over from the previous file."""

    success_runs: float = 0.0
    failure_runs: float = 0.0
    last_success: float | None = None


def parse_stage(text: str) -> tuple[str, StageResult]:
    """Parse ``NAME=ok|fail[:SECONDS]``."""
    name, sep, outcome = text.partition("=")
    if not sep:
        raise InputError(f"--stage {text!r}: expected NAME=ok|fail[:SECONDS]")
    if name not in STAGES:
        raise InputError(f"--stage {text!r}: unknown stage {name!r} (one of {', '.join(STAGES)})")
    result, colon, seconds_text = outcome.partition(":")
    if result not in ("ok", "fail"):
        raise InputError(f"--stage {text!r}: result must be ok or fail, not {result!r}")
    seconds: float | None = None
    if colon:
        try:
            seconds = float(seconds_text)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= 0):
            raise InputError(
                f"--stage {text!r}: SECONDS must be a non-negative number, not {seconds_text!r}"
            )
    return name, StageResult(ok=result == "ok", seconds=seconds)


def read_history(path: Path) -> History:
    """Read the counters and the last success time from a previous ``lumen.prom``.

    A missing file is a first run. An unreadable or unparsable one is reported on stderr and
    treated as a first run: Prometheus sees a counter reset, which ``increase()`` handles.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return History()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"lumen-bridge emit-metrics: warning: ignoring {path}: {exc}", file=sys.stderr)
        return History()
    runs = {"success": 0.0, "failure": 0.0}
    last_success: float | None = None
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "lumen_pipeline_runs_total":
                    result = sample.labels.get("result", "")
                    if result in runs and math.isfinite(sample.value) and sample.value >= 0:
                        runs[result] = sample.value
                elif sample.name == "lumen_pipeline_last_success_timestamp" and math.isfinite(
                    sample.value
                ):
                    last_success = sample.value
    except ValueError as exc:
        print(f"lumen-bridge emit-metrics: warning: ignoring {path}: {exc}", file=sys.stderr)
        return History()
    return History(runs["success"], runs["failure"], last_success)


class RunCollector:
    """Exposes one run (and its history) as the textfile's metric families."""

    def __init__(self, run: PipelineRun, history: History, now: float) -> None:
        """Describe ``run``, finished at ``now``, on top of ``history``."""
        self._run = run
        self._history = history
        self._now = now

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family of the textfile."""
        run, history = self._run, self._history
        yield GaugeMetricFamily(
            "lumen_pipeline_last_run_timestamp",
            "Unix time the last pipeline run ended, successful or not.",
            value=self._now,
        )
        last_success = self._now if run.succeeded else history.last_success
        if last_success is not None:
            yield GaugeMetricFamily(
                "lumen_pipeline_last_success_timestamp",
                "Unix time the last successful pipeline run ended (all six stages ok).",
                value=last_success,
            )
        runs = CounterMetricFamily(
            "lumen_pipeline_runs",
            "Pipeline runs by result; a run fails when a stage failed or did not run.",
            labels=["result"],
        )
        runs.add_metric(["success"], history.success_runs + (1 if run.succeeded else 0))
        runs.add_metric(["failure"], history.failure_runs + (0 if run.succeeded else 1))
        yield runs
        success = GaugeMetricFamily(
            "lumen_pipeline_success",
            "Stage result in the last run: 1 ok, 0 failed, NaN did not run.",
            labels=["stage"],
        )
        duration = GaugeMetricFamily(
            "lumen_pipeline_duration_seconds",
            "Stage duration in the last run; 0 when not measured or the stage did not run.",
            labels=["stage"],
        )
        for name in STAGES:
            stage = run.stages.get(name)
            success.add_metric([name], math.nan if stage is None else float(stage.ok))
            seconds = None if stage is None else stage.seconds
            duration.add_metric([name], 0.0 if seconds is None else seconds)
        yield success
        yield duration
        yield GaugeMetricFamily(
            "lumen_remote_integrity_ok",
            "Remote integrity check of the last run: 1 hashes match, 0 mismatch.",
            value=float(run.integrity_ok),
        )
        yield GaugeMetricFamily(
            "lumen_report_generated",
            "1 when the last run produced the day's MD/PDF report, else 0.",
            value=float(run.report_ok),
        )
        yield GaugeMetricFamily(
            "lumen_alert_suppressed",
            "Pipeline suppression flag: 1 holds the pipeline's pages back (by inhibition).",
            value=float(run.suppressed),
        )


def write_textfile(directory: Path, run: PipelineRun, now: float) -> Path:
    """Write ``directory/lumen.prom`` atomically with mode 0644; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TEXTFILE_NAME
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(run, read_history(path), now))
    old_umask = os.umask(0o777 ^ FILE_MODE)  # the temp file is created 0644, then renamed
    try:
        write_to_textfile(str(path), registry)
    finally:
        os.umask(old_umask)
    return path
