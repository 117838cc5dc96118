"""The HTML report, rendered by a real headless Chromium and read back from its DOM (no screenshots):
it loads cleanly, shows the store's numbers, the trajectories and changed outputs of failing cases,
stays usable with 50 runs x 200 cases, keeps hostile outputs inert text, and says so when its script
cannot run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.runs import list_runs, load_run, run_from_report, save_run
from pytest_flywheel.runs.html_report import NOT_DRAWN, render_html, script_json
from pytest_flywheel.store import Store

from .dom import Node, parse
from .helpers import case, report

CITE = "The response must cite the help article"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def render_in_chromium(page: Path | str, tmp_path: Path, *extra: str) -> tuple[str, str]:
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
            "--window-size=1280,800",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            *extra,
            "--dump-dom",
            page.as_uri() if isinstance(page, Path) else page,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def rendered(dom: str, log: str) -> Node:
    assert 'data-rendered="ok"' in dom, log[-2000:]
    assert "data-console-errors" not in dom and "Uncaught" not in log
    tree = parse(dom)
    assert not tree.find_all(id="report-status")  # the "could not be drawn" notice is gone
    return tree


def write_page(tmp_path: Path, *runs: dict[str, Any], probe: str = "") -> Path:
    """The report of ``runs`` (plugin-style reports, oldest first) through `flywheel report`."""
    store = tmp_path / "flywheel.db"
    with Store(store) as s:
        for item in runs:
            save_run(s, run_from_report(item))
    page = tmp_path / "report.html"
    assert main(["report", "--html", str(page), "--store", str(store), "--runs", "50"]) == 0
    if probe:  # a test's own script, run after the report's: it measures and leaves figures in the DOM
        page.write_text(page.read_text().replace("</body>", f"<script>{probe}</script>\n</body>"))
    return page


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
    tree = rendered(dom, log)
    assert "data-pwned" not in dom  # the hostile output was shown as text, never run
    assert "dataset.pwned='1'&lt;/script&gt;" in dom

    with Store(store) as s:
        runs = [load_run(s, r.id) for r in reversed(list_runs(s))]
    latest = runs[-1]
    expected_rate = f"{latest.pass_rate * 100:.1f}%" if latest.pass_rate is not None else "n/a"
    assert tree.find(id="latest-pass-rate").text == expected_rate
    dots = tree.find("figure", data_chart="pass-rate").find_all("circle")
    assert [float(dot.attrs["data-value"]) for dot in dots] == pytest.approx([r.pass_rate for r in runs])
    # the case-by-run matrix: one row per case, one cell per run, newest run first
    newest_first = list(reversed(runs))
    for result in latest.cases:
        row = tree.find("tr", data_case=result.key)
        cells = [sorted(cell.classes() - {"cell"})[0] for cell in row.find_all("td")]
        assert cells == [run_result(run, result.key) for run in newest_first]
    failing = tree.find("section", id="failing")
    assert int(failing.attrs["data-count"]) == latest.count("failed") + latest.count("error")


def run_result(run: Any, key: str) -> str:
    return next((c.outcome for c in run.cases if c.key == key), "absent")


HOSTILE = [
    "<!-- the rest of the page is a comment",
    "</script><script>document.body.dataset.pwned='1'</script>",
    "<script>document.body.dataset.pwned='2'</script>",
    "line\u2028separator\u2029paragraph & ampersand",
    "x" * 200_000 + " one very long line",
    "</SCRIPT ><!--<script>",
]


def test_embedded_data_stays_valid_json_whatever_the_output() -> None:
    value = {"outputs": HOSTILE, "nan": float("nan"), "nested": {"</script>": ["<!--"]}}
    text = script_json(value)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    back = json.loads(text)
    assert back["outputs"] == HOSTILE and back["nested"] == {"</script>": ["<!--"]}
    assert back["nan"] == "nan"  # JSON has no NaN: the canonical conversion's text, never invalid JSON


def test_hostile_outputs_render_as_inert_text(tmp_path: Path) -> None:
    cases = []
    for index, output in enumerate(HOSTILE):
        item = case(f"h{index}", "failed", (CITE, False))
        item["output"] = output
        item["message"] = output[:100]
        cases.append(item)
    page = write_page(tmp_path, report(*cases, started_at=1_790_000_000.0))
    html = page.read_text()
    assert html.count("</script>") == 2 and "<!--" not in html  # only the page's own two scripts end

    dom, log = render_in_chromium(page, tmp_path)
    tree = rendered(dom, log)
    assert "data-pwned" not in dom  # no output ran as script
    shown = [node.text for node in tree.find("section", id="failing").find_all("pre", cls="output-text")]
    assert shown == HOSTILE


def trajectory_case(case_id: str, outcome: str, output: Any, trajectory: Any) -> dict[str, Any]:
    item = case(case_id, outcome, (CITE, outcome == "passed"))
    item["output"] = output
    item["trajectory"] = trajectory
    return item


TRAJECTORY = [
    {"type": "llm", "model": "claude-haiku-5-5", "stop_reason": "tool_use", "input_tokens": 812,
     "output_tokens": 64, "tool_uses": [{"name": "lookup_order", "input": {"order_id": "A-17"}}]},
    {"type": "tool", "name": "lookup_order", "arguments": {"order_id": "A-17"},
     "result": {"status": "shipped", "eta": "Monday"}},
    {"type": "tool", "name": "refund", "arguments": {"order_id": "A-17"},
     "error": {"type": "PermissionError", "message": "refunds need a manager"}},
    {"type": "llm", "model": "claude-haiku-5-5", "stop_reason": "end_turn", "input_tokens": 1020,
     "output_tokens": 88, "tool_uses": []},
]  # fmt: skip


def test_failing_cases_show_their_trajectory_and_what_changed_in_their_output(tmp_path: Path) -> None:
    before = "Your order A-17 ships Monday.\nA refund is not possible.\nThanks!"
    after = "Your order A-17 ships Monday.\nYou get a full refund today.\nThanks!"
    page = write_page(
        tmp_path,
        report(
            trajectory_case("changed", "passed", before, TRAJECTORY),
            trajectory_case("same", "failed", "Same answer.", []),
            trajectory_case("old", "failed", "x", None),
            trajectory_case("long", "failed", "\n".join(f"line {n}" for n in range(40)), []),
            started_at=1_790_000_000.0,
        ),
        report(
            trajectory_case("changed", "failed", after, TRAJECTORY),
            trajectory_case("same", "failed", "Same answer.", []),
            trajectory_case("old", "failed", "x", None),  # a run record with no trajectory
            trajectory_case("new", "error", None, None),
            trajectory_case("long", "failed", "\n".join(f"line {n}" if n != 20 else "LINE 20" for n in range(40)), []),
            started_at=1_790_086_400.0,
        ),
    )
    tree = rendered(*render_in_chromium(page, tmp_path))
    failing = tree.find("section", id="failing")
    assert failing.attrs["data-count"] == "5"

    changed = failing.find("div", cls="details", data_case="qa::changed")
    steps = changed.find("ol", cls="trajectory").find_all("li", cls="step")
    assert [step.attrs["data-step"] for step in steps] == ["llm", "tool", "tool", "llm"]
    llm = steps[0].text
    assert "claude-haiku-5-5" in llm and "812 in / 64 out tokens" in llm and "stop reason tool_use" in llm
    assert "lookup_order" in steps[0].find("div", cls="tool-use").text
    assert json.loads(steps[1].find("pre", cls="arguments").text) == {"order_id": "A-17"}
    assert json.loads(steps[1].find("pre", cls="result").text) == {"status": "shipped", "eta": "Monday"}
    assert "raised PermissionError: refunds need a manager" in steps[2].text
    assert "stop reason end_turn" in steps[3].text

    output = changed.find("div", cls="output")
    assert output.attrs["data-diff"] == "changed"
    diff = output.find("pre", cls="diff")
    assert [node.text for node in diff.find_all("span")] == [
        "  Your order A-17 ships Monday.\n",
        "- A refund is not possible.\n",
        "+ You get a full refund today.\n",
        "  Thanks!\n",
    ]

    # a long output: the change with three lines around it, the unchanged rest folded
    long_diff = failing.find("div", cls="details", data_case="qa::long").find("pre", cls="diff")
    assert [node.text for node in long_diff.find_all("span")] == [
        "  …\n", "  line 17\n", "  line 18\n", "  line 19\n", "- line 20\n", "+ LINE 20\n",
        "  line 21\n", "  line 22\n", "  line 23\n", "  …\n",
    ]  # fmt: skip

    same = failing.find("div", cls="details", data_case="qa::same")
    assert same.find("div", cls="output").attrs["data-diff"] == "unchanged"
    assert same.find("p", data_trajectory="empty").text == "No tool or LLM calls."
    for key in ("qa::old", "qa::new"):
        missing = failing.find("div", cls="details", data_case=key).find("p", data_trajectory="not-recorded")
        assert missing.text.startswith("Trajectory not recorded")
    assert failing.find("div", cls="details", data_case="qa::new").find("div", cls="output").attrs["data-diff"] == "first"


def big_runs(runs: int = 50, cases: int = 200) -> list[dict[str, Any]]:
    day = 86_400.0
    made = []
    for run in range(runs):
        items = []
        for number in range(cases):
            outcome = "failed" if (number * 7 + run) % 23 == 0 else "error" if (number + run) % 97 == 0 else "passed"
            item = case(f"case-{number:03d}", outcome, (CITE, outcome == "passed"))
            item["tags"] = ["orders"] if number % 4 == 0 else ["billing"]
            item["output"] = f"answer {number} v{run // 10}"
            items.append(item)
        made.append(report(*items, started_at=1_790_000_000.0 + run * day))
    return made


PROBE = """
(function () {
  var box = document.getElementById("matrix-scroll");
  var name = box.querySelector("tbody th.case"), cell = box.querySelector("tbody td.cell");
  var head = box.querySelector("thead th.run");
  function left(node) { return Math.round(node.getBoundingClientRect().left); }
  function top(node) { return Math.round(node.getBoundingClientRect().top); }
  var before = { name: left(name), cell: left(cell), head: top(head) };
  box.scrollLeft = 3000; box.scrollTop = 3000;
  var after = { name: left(name), cell: left(cell), head: top(head) };
  document.body.dataset.probe = JSON.stringify({ before: before, after: after, scrolledLeft: box.scrollLeft,
    scrolledTop: box.scrollTop, wide: box.scrollWidth > box.clientWidth, boxLeft: left(box), boxTop: top(box) });
})();
"""


def test_fifty_runs_of_two_hundred_cases_stay_readable(tmp_path: Path) -> None:
    runs = big_runs()
    page = write_page(tmp_path, *runs, probe=PROBE)
    assert page.stat().st_size < 6_000_000  # outputs repeat across runs: each is stored once
    dom, log = render_in_chromium(page, tmp_path)
    tree = rendered(dom, log)

    heads = [th.attrs["data-started-at"] for th in tree.find("table", cls="matrix").find("thead").find_all("th", cls="run")]
    starts = [datetime.fromisoformat(text) for text in heads]
    assert len(starts) == 50 and starts == sorted(starts, reverse=True)  # newest run first
    rows = tree.find("table", cls="matrix").find("tbody").find_all("tr")
    assert len(rows) == 200 and all(len(row.find_all("td")) == 50 for row in rows)

    probe = json.loads(tree.find("body").attrs["data-probe"])
    assert probe["wide"] and probe["scrolledLeft"] > 0 and probe["scrolledTop"] > 0
    # the case column stays put while the cells scroll under it; the run row stays on top
    assert probe["after"]["name"] == probe["before"]["name"] == probe["boxLeft"] + 1
    assert probe["after"]["cell"] < probe["before"]["cell"]
    assert probe["after"]["head"] == probe["boxTop"] + 1

    # the pass-rate chart's time axis: dated ticks from the first run to the last, in order
    chart = tree.find("figure", data_chart="pass-rate")
    ticks = [node for node in chart.find_all("text", cls="x")]
    times = [datetime.fromisoformat(node.attrs["data-time"].replace("Z", "+00:00")) for node in ticks]
    assert len(ticks) >= 3 and times == sorted(times)
    assert times[0].timestamp() == pytest.approx(runs[0]["started_at"])
    assert times[-1].timestamp() == pytest.approx(runs[-1]["started_at"])
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", node.text) for node in ticks)  # 49 days: dates
    assert ticks[0].text == "2026-09-21"


def test_the_matrix_filters_by_status_and_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tags from the suite file, for runs whose record has none
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flywheel" / "suites").mkdir(parents=True)
    (tmp_path / "flywheel" / "suites" / "qa.yaml").write_text(
        "version: 1\nname: qa\ntarget: agent:answer\ncases:\n"
        + "".join(
            f"  - id: c{n}\n    input: {{q: x}}\n    assertions: [Be right.]\n    tags: [{'orders' if n % 2 else 'billing'}]\n"
            for n in range(6)
        )
    )
    outcomes = ["failed", "passed", "error", "failed", "passed", "skipped"]
    page = write_page(
        tmp_path,
        report(*(case(f"c{n}", "passed", (CITE, True)) for n in range(6)), started_at=1_790_000_000.0),
        report(*(case(f"c{n}", outcome, (CITE, outcome == "passed")) for n, outcome in enumerate(outcomes)),
               started_at=1_790_003_600.0),
    )  # fmt: skip

    def shown(fragment: str) -> list[str]:
        tree = rendered(*render_in_chromium(f"{page.as_uri()}#{fragment}", tmp_path))
        rows = tree.find("table", cls="matrix").find("tbody").find_all("tr")
        visible = [row.attrs["data-case"] for row in rows if "hidden" not in row.attrs]
        assert tree.find(id="matrix-count").attrs["data-shown"] == str(len(visible))
        return visible

    assert shown("status=failing") == ["qa::c0", "qa::c2", "qa::c3"]
    assert shown("status=failing&tag=orders") == ["qa::c3"]
    assert shown("status=changed&tag=billing") == ["qa::c0", "qa::c2"]


def test_a_page_whose_script_cannot_run_says_so(tmp_path: Path) -> None:
    page = write_page(tmp_path, report(case("x", "failed", (CITE, False)), started_at=1_790_000_000.0))
    # a viewer that runs no script (its policy forbids them; --dump-dom itself needs JavaScript on)
    blocked = tmp_path / "blocked.html"
    blocked.write_text(page.read_text().replace("script-src 'unsafe-inline'", "script-src 'none'"))
    dom, _ = render_in_chromium(blocked, tmp_path)
    assert parse(dom).find(id="report-status").text == NOT_DRAWN and "data-rendered" not in dom

    damaged = tmp_path / "damaged.html"
    text = page.read_text()
    start = text.index('id="flywheel-data">') + len('id="flywheel-data">')
    damaged.write_text(text[:start] + "{not json" + text[start + 40 :])
    dom, _ = render_in_chromium(damaged, tmp_path)
    status = parse(dom).find(id="report-status")
    assert 'data-rendered="error"' in dom and status.text.startswith("The report could not be drawn: SyntaxError")


def test_report_without_runs_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flywheel.db"
    Store(path).close()
    assert main(["report", "--html", str(tmp_path / "r.html"), "--store", str(path)]) == 1
    assert "no recorded runs" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_report_never_overwrites_a_file_that_is_not_a_page(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "qa.yaml"  # a mistyped path: the committed suite file
    suite.write_text("version: 1\nname: qa\ncases: []\n", encoding="utf-8")

    assert main(["report", "--html", str(suite), "--store", str(store)]) == 1

    assert "exists and is not an HTML page" in capsys.readouterr().err
    assert suite.read_text(encoding="utf-8") == "version: 1\nname: qa\ncases: []\n"
    page = tmp_path / "r.html"
    assert main(["report", "--html", str(page), "--store", str(store)]) == 0
    assert main(["report", "--html", str(page), "--store", str(store)]) == 0  # its own page: rewritten


def test_report_files_follow_the_umask(store: Path, tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        assert main(["report", "--html", str(tmp_path / "r.html"), "--store", str(store)]) == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o640


def test_render_needs_no_store_and_escapes_the_title() -> None:
    run = run_from_report(report(case("x", "failed", (CITE, False)), started_at=1.0))
    html = render_html([run], title="t <b>")
    assert "<title>t &lt;b&gt;</title>" in html and "<h1>t &lt;b&gt;</h1>" in html


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
    tree = rendered(*render_in_chromium(page, tmp_path))

    def chart_values(chart: str) -> list[float]:
        return [float(dot.attrs["data-value"]) for dot in tree.find("figure", data_chart=chart).find_all("circle")]

    assert sum(chart_values("volume")) == 12
    # three busy hours, four traces each, one of them an error; quiet hours have no rate to plot
    assert sorted(v for v in chart_values("volume") if v) == [4, 4, 4]
    assert chart_values("error-rate") == [0.25, 0.25, 0.25]
    ticks = tree.find("figure", data_chart="volume").find_all("text", cls="x")
    assert len(ticks) >= 3 and all(re.fullmatch(r"\d{2}-\d{2} \d{2}:\d{2}", t.text) for t in ticks)  # one day: hours
    assert tree.find("ol", id="uncovered") and "KeyError" in dom_text(tree)


def dom_text(tree: Node) -> str:
    return tree.text
