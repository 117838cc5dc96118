"""The HTML report, rendered by a real headless Chromium: it loads cleanly and shows the store's numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.runs import list_runs, load_run, run_from_report, save_run
from pytest_flywheel.runs.html_report import render_html
from pytest_flywheel.store import Store

from .helpers import case, report

CITE = "The response must cite the help article"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def render_in_chromium(page: Path, tmp_path: Path) -> tuple[str, str]:
    """The DOM after the page's scripts ran, and Chromium's log (console messages included)."""
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "flywheel.db"
    hostile = "</script><script>document.body.dataset.pwned='1'</script>"
    with Store(path) as s:
        save_run(
            s,
            run_from_report(
                report(
                    case("refund", "failed", (CITE, False)),
                    case("reset", "passed", (CITE, True)),
                    case("order", "error"),
                    started_at=1_700_000_000.0,
                )
            ),
        )
        second = report(
            case("refund", "passed", (CITE, True)),
            case("reset", "passed", (CITE, True)),
            case("order", "failed", (CITE, False)),
            started_at=1_700_003_600.0,
        )
        second["cases"][2]["output"] = hostile  # agent output is untrusted text
        save_run(s, run_from_report(second))
    return path


def test_report_loads_without_console_errors_and_matches_the_store(store: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", "--html", str(page), "--store", str(store)]) == 0
    html = page.read_text()
    # self-contained: nothing to fetch, and the page's policy forbids fetching anything
    assert not re.search(r"""(src|href)=["']?https?:""", html) and "fetch(" not in html
    assert "default-src 'none'" in html

    dom, log = render_in_chromium(page, tmp_path)
    assert 'data-rendered="ok"' in dom
    assert "data-console-errors" not in dom
    assert "Uncaught" not in log
    assert "data-pwned" not in dom  # the hostile output was shown as text, never run
    assert "dataset.pwned='1'&lt;/script&gt;" in dom

    with Store(store) as s:
        runs = [load_run(s, r.id) for r in reversed(list_runs(s))]
    latest = runs[-1]
    expected_rate = f"{latest.pass_rate * 100:.1f}%" if latest.pass_rate is not None else "n/a"
    assert f'id="latest-pass-rate">{expected_rate}<' in dom
    dots = re.findall(r'<circle [^>]*data-value="([0-9.]+)"', dom)
    assert [float(v) for v in dots] == pytest.approx([r.pass_rate for r in runs])
    # the case-by-run matrix: one row per case, one cell per run, showing each outcome
    for run_index, run in enumerate(runs):
        for result in run.cases:
            row = re.search(rf'<tr data-case="{re.escape(result.key)}">(.*?)</tr>', dom, flags=re.S)
            assert row is not None
            cells = re.findall(r'<td class="cell (\w+)"', row.group(1))
            assert cells[run_index] == result.outcome
    failing = re.search(r'<section id="failing" data-count="(\d+)"', dom)
    assert failing is not None and int(failing.group(1)) == latest.count("failed") + latest.count("error")


def test_render_escapes_script_breakouts_in_the_embedded_data() -> None:
    run = run_from_report(report(case("x", "failed", (CITE, False)), started_at=1.0))
    run.cases[0].output = "</script><!-- <b>"
    html = render_html([run], title="t <b>")
    assert "</script><!--" not in html.split('id="flywheel-data">', 1)[1].split("</script>", 1)[0]
    assert "<title>t &lt;b&gt;</title>" in html


def test_report_without_runs_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flywheel.db"
    Store(path).close()
    assert main(["report", "--html", str(tmp_path / "r.html"), "--store", str(path)]) == 1
    assert "no recorded runs" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_stats_charts_show_the_production_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from pytest_flywheel.store import FeedbackRecord, TraceRecord

    path = tmp_path / "flywheel.db"
    now = time.time()
    traces = [
        TraceRecord(
            id=f"t{i:03d}",
            project="shop",
            name="answer",
            status="error" if i % 4 == 0 else "ok",
            start_time=now - 3600 * (i % 3) - 60,
            end_time=now - 3600 * (i % 3) - 59,
            error={"type": "KeyError", "message": "x", "traceback": ""} if i % 4 == 0 else None,
        )
        for i in range(12)
    ]
    with Store(path) as s:
        s.write_spans([], traces)
        for i in range(6):
            s.add_feedback(FeedbackRecord(trace_id=f"t{i:03d}", name="thumbs_up", value=i % 2 == 0))
    monkeypatch.chdir(tmp_path)  # no suites here: every failure is uncovered
    page = tmp_path / "stats.html"
    assert (
        main(
            ["report", "--html", str(page), "--stats", "--by", "hour", "--since", "1d", "--store", str(path)]
        )
        == 0
    )
    dom, log = render_in_chromium(page, tmp_path)
    assert 'data-rendered="ok"' in dom and "data-console-errors" not in dom and "Uncaught" not in log

    def chart_values(chart: str) -> list[float]:
        block = re.search(rf'data-chart="{chart}">(.*?)</figure>', dom, flags=re.S)
        assert block is not None
        return [float(v) for v in re.findall(r'data-value="([0-9.]+)"', block.group(1))]

    assert sum(chart_values("volume")) == 12
    # three busy hours, four traces each, one of them an error; quiet hours have no rate to plot
    assert sorted(v for v in chart_values("volume") if v) == [4, 4, 4]
    assert chart_values("error-rate") == [0.25, 0.25, 0.25]
    assert '<ol id="uncovered">' in dom and "KeyError" in dom
