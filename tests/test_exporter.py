"""emit-metrics: the pipeline's textfile exporter (contract sections 2 and 8)."""

from __future__ import annotations

import errno
import math
import os
import shutil
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import prometheus_client.exposition
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from lumen_bridge import textfile_exporter as exporter
from lumen_bridge.cli import main

ENV_VARS = ("LUMEN_TEXTFILE_DIR", "LUMEN_INTEGRITY_OK", "LUMEN_REPORT_OK", "LUMEN_ALERT_SUPPRESSED")
ALL_OK = [f"--stage={name}=ok" for name in exporter.STAGES]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def emit(directory: Path, *options: str) -> int:
    return main(["emit-metrics", "--dir", str(directory), *options])


def read(directory: Path) -> Samples:
    text = (directory / "lumen.prom").read_text(encoding="utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def runs(samples: Samples) -> tuple[float, float]:
    return (
        value(samples, "lumen_pipeline_runs_total", result="success"),
        value(samples, "lumen_pipeline_runs_total", result="failure"),
    )


def test_default_call_writes_every_metric_with_help_and_type(tmp_path: Path) -> None:
    assert emit(tmp_path) == 0
    text = (tmp_path / "lumen.prom").read_text(encoding="utf-8")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    expected = {
        "lumen_pipeline_last_run_timestamp": "gauge",
        "lumen_pipeline_last_success_timestamp": "gauge",
        "lumen_pipeline_runs": "counter",
        "lumen_pipeline_success": "gauge",
        "lumen_pipeline_duration_seconds": "gauge",
        "lumen_remote_integrity_ok": "gauge",
        "lumen_report_generated": "gauge",
        "lumen_alert_suppressed": "gauge",
    }
    assert {name: family.type for name, family in families.items()} == expected
    assert all(family.documentation for family in families.values())
    assert text.count("# HELP ") == text.count("# TYPE ") == len(expected)
    assert "_created" not in text
    samples = read(tmp_path)
    for name in exporter.STAGES:
        assert value(samples, "lumen_pipeline_success", stage=name) == 1
        assert value(samples, "lumen_pipeline_duration_seconds", stage=name) == 0
    assert runs(samples) == (1, 0)
    assert value(samples, "lumen_remote_integrity_ok") == 1
    assert value(samples, "lumen_report_generated") == 1
    assert value(samples, "lumen_alert_suppressed") == 0
    last_run = value(samples, "lumen_pipeline_last_run_timestamp")
    assert abs(last_run - time.time()) < 5
    assert value(samples, "lumen_pipeline_last_success_timestamp") == last_run


def test_file_is_world_readable_and_no_temp_file_is_left(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        assert emit(tmp_path) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "lumen.prom").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["lumen.prom"]


def test_failed_stage_and_stages_that_did_not_run(tmp_path: Path) -> None:
    assert emit(tmp_path, "--stage", "build=ok:12.5", "--stage", "pdf=fail:3") == 0
    samples = read(tmp_path)
    assert value(samples, "lumen_pipeline_success", stage="build") == 1
    assert value(samples, "lumen_pipeline_success", stage="pdf") == 0
    assert value(samples, "lumen_pipeline_duration_seconds", stage="build") == 12.5
    assert value(samples, "lumen_pipeline_duration_seconds", stage="pdf") == 3
    for name in ("freeze", "upload", "verify", "distribute"):
        assert math.isnan(value(samples, "lumen_pipeline_success", stage=name))
        assert value(samples, "lumen_pipeline_duration_seconds", stage=name) == 0
    assert runs(samples) == (0, 1)


def test_a_run_with_stages_that_did_not_run_is_not_a_success(tmp_path: Path) -> None:
    assert emit(tmp_path, "--stage", "build=ok", "--stage", "pdf=ok") == 0
    samples = read(tmp_path)
    assert runs(samples) == (0, 1)
    assert ("lumen_pipeline_last_success_timestamp", ()) not in samples
    assert not any(value(samples, "lumen_pipeline_success", stage=s) == 0 for s in exporter.STAGES)


def test_counters_persist_across_runs_and_both_series_exist_from_the_first(tmp_path: Path) -> None:
    assert emit(tmp_path, "--stage", "upload=fail") == 0
    assert runs(read(tmp_path)) == (0, 1)
    assert emit(tmp_path, *ALL_OK) == 0
    assert runs(read(tmp_path)) == (1, 1)
    assert emit(tmp_path) == 0
    assert emit(tmp_path, *ALL_OK[:-1], "--stage=distribute=fail") == 0
    assert runs(read(tmp_path)) == (2, 2)


def test_last_success_is_absent_until_a_success_then_carried_over(tmp_path: Path) -> None:
    failed = exporter.PipelineRun(
        stages={"build": exporter.StageResult(ok=False)},
        integrity_ok=True,
        report_ok=True,
        suppressed=False,
    )
    good = exporter.PipelineRun(
        stages={name: exporter.StageResult(ok=True) for name in exporter.STAGES},
        integrity_ok=True,
        report_ok=True,
        suppressed=False,
    )
    key = ("lumen_pipeline_last_success_timestamp", ())
    exporter.write_textfile(tmp_path, failed, now=1000.0)
    assert key not in read(tmp_path)
    exporter.write_textfile(tmp_path, good, now=2000.0)
    assert read(tmp_path)[key] == 2000
    exporter.write_textfile(tmp_path, failed, now=3000.0)
    samples = read(tmp_path)
    assert samples[key] == 2000
    assert value(samples, "lumen_pipeline_last_run_timestamp") == 3000


def test_environment_fallbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMEN_TEXTFILE_DIR", str(tmp_path))
    monkeypatch.setenv("LUMEN_INTEGRITY_OK", "0")
    monkeypatch.setenv("LUMEN_REPORT_OK", "0")
    monkeypatch.setenv("LUMEN_ALERT_SUPPRESSED", "1")
    assert main(["emit-metrics"]) == 0
    samples = read(tmp_path)
    assert value(samples, "lumen_remote_integrity_ok") == 0
    assert value(samples, "lumen_report_generated") == 0
    assert value(samples, "lumen_alert_suppressed") == 1
    # options win over the environment
    assert main(["emit-metrics", "--integrity=ok", "--report=ok", "--suppressed=0"]) == 0
    samples = read(tmp_path)
    assert value(samples, "lumen_remote_integrity_ok") == 1
    assert value(samples, "lumen_report_generated") == 1
    assert value(samples, "lumen_alert_suppressed") == 0


def test_options(tmp_path: Path) -> None:
    assert emit(tmp_path, "--integrity", "fail", "--report", "fail", "--suppressed", "1") == 0
    samples = read(tmp_path)
    assert value(samples, "lumen_remote_integrity_ok") == 0
    assert value(samples, "lumen_report_generated") == 0
    assert value(samples, "lumen_alert_suppressed") == 1


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        (["--stage", "deploy=ok"], {}, "unknown stage 'deploy'"),
        (["--stage", "pdf=maybe"], {}, "result must be ok or fail"),
        (["--stage", "pdf"], {}, "expected NAME=ok|fail[:SECONDS]"),
        (["--stage", "pdf=ok:-1"], {}, "SECONDS must be a non-negative number"),
        (["--stage", "pdf=ok:soon"], {}, "SECONDS must be a non-negative number"),
        (["--stage", "pdf=ok:nan"], {}, "SECONDS must be a non-negative number"),
        (["--stage", "pdf=ok", "--stage", "pdf=fail"], {}, "more than once"),
        (["--integrity", "1"], {}, "--integrity must be ok or fail"),
        (["--report", "yes"], {}, "--report must be ok or fail"),
        (["--suppressed", "true"], {}, "--suppressed must be 1 or 0"),
        ([], {"LUMEN_INTEGRITY_OK": "ok"}, "LUMEN_INTEGRITY_OK must be 1 or 0"),
        ([], {"LUMEN_REPORT_OK": "2"}, "LUMEN_REPORT_OK must be 1 or 0"),
        ([], {"LUMEN_ALERT_SUPPRESSED": "yes"}, "LUMEN_ALERT_SUPPRESSED must be 1 or 0"),
    ],
)
def test_bad_input_is_refused_and_leaves_the_previous_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    assert emit(tmp_path, "--stage", "build=fail") == 0
    before = (tmp_path / "lumen.prom").read_bytes()
    capsys.readouterr()
    for name, raw in env.items():
        monkeypatch.setenv(name, raw)
    assert emit(tmp_path, *options) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("lumen-bridge emit-metrics: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert (tmp_path / "lumen.prom").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lumen.prom"]


def test_unwritable_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    assert emit(blocker / "textfile") == 1
    err = capsys.readouterr().err
    assert err.startswith("lumen-bridge emit-metrics: error: cannot write ")
    assert err.count("\n") == 1
    assert blocker.read_text(encoding="utf-8") == "x"


def test_failed_write_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert emit(tmp_path) == 0
    before = (tmp_path / "lumen.prom").read_bytes()

    def disk_full(*args: object, **kwargs: object) -> bytes:
        raise OSError(errno.ENOSPC, "No space left on device")

    # fails after write_to_textfile has opened its temp file, before the rename
    monkeypatch.setattr(prometheus_client.exposition, "generate_latest", disk_full)
    assert emit(tmp_path, "--stage", "pdf=fail") == 1
    err = capsys.readouterr().err
    assert "error: cannot write" in err
    assert "No space left on device" in err
    assert (tmp_path / "lumen.prom").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lumen.prom"]


def test_target_path_taken_by_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lumen.prom").mkdir()
    assert emit(tmp_path) == 1
    assert "error: cannot write" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["lumen.prom"]


def test_unparsable_previous_file_is_replaced_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lumen.prom").write_text("lumen_pipeline_runs_total{result= 3\n", encoding="utf-8")
    assert emit(tmp_path) == 0
    assert "warning: ignoring" in capsys.readouterr().err
    assert runs(read(tmp_path)) == (1, 0)


def test_seed_style_previous_file_without_counters(tmp_path: Path) -> None:
    (tmp_path / "lumen.prom").write_text(
        "lumen_pipeline_last_run_timestamp 1700000000\nlumen_remote_integrity_ok 1\n",
        encoding="utf-8",
    )
    assert emit(tmp_path, "--stage", "pdf=fail") == 0
    assert runs(read(tmp_path)) == (0, 1)


def test_help_shows_examples_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emit-metrics", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("examples:", "LUMEN_TEXTFILE_DIR", "LUMEN_INTEGRITY_OK", "--stage upload=fail"):
        assert word in out


stage_option = st.tuples(
    st.sampled_from(exporter.STAGES),
    st.sampled_from(["ok", "fail"]),
    st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(stage_option, unique_by=lambda option: option[0]))
def test_stage_options_property(
    tmp_path_factory: pytest.TempPathFactory, options: list[tuple[str, str, float | None]]
) -> None:
    directory = tmp_path_factory.mktemp("prop")
    argv: list[str] = []
    for name, result, seconds in options:
        argv += ["--stage", f"{name}={result}" + ("" if seconds is None else f":{seconds!r}")]
    assert emit(directory, *argv) == 0
    samples = read(directory)
    given_stages = {name: result for name, result, _ in options}
    for name in exporter.STAGES:
        success = value(samples, "lumen_pipeline_success", stage=name)
        if not options:
            assert success == 1
        elif name not in given_stages:
            assert math.isnan(success)
        else:
            assert success == (given_stages[name] == "ok")
    all_ok = not options or (
        len(given_stages) == len(exporter.STAGES) and all(r == "ok" for r in given_stages.values())
    )
    assert runs(samples) == ((1, 0) if all_ok else (0, 1))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _node_exporter() -> str:
    found = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    assert found, "node_exporter is missing: apt-get install prometheus-node-exporter"
    return found


@pytest.fixture
def node_exporter_metrics(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real node_exporter reading tmp_path/textfile; yields the dir and the /metrics URL."""
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [
            _node_exporter(),
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfile_dir}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield textfile_dir, f"http://127.0.0.1:{port}/metrics"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _scrape(url: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body.decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_real_node_exporter_parses_the_file(node_exporter_metrics: tuple[Path, str]) -> None:
    textfile_dir, url = node_exporter_metrics
    assert emit(textfile_dir, "--stage", "build=ok:1", "--stage", "pdf=fail:2") == 0
    assert emit(textfile_dir, *ALL_OK, "--suppressed", "1") == 0
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(_scrape(url))
        for sample in family.samples
    }
    assert value(samples, "node_textfile_scrape_error") == 0
    assert runs(samples) == (1, 1)
    assert value(samples, "lumen_alert_suppressed") == 1
    for name in exporter.STAGES:
        assert value(samples, "lumen_pipeline_success", stage=name) == 1
