"""Reports: Markdown and self-contained HTML from a run directory, and the HTML rendered in headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest

from multianswer.evaluation.runner import EvalArgs, evaluate
from multianswer.core.formats import AnswerFormat, format_completion
from multianswer.generation.backends import ReplayBackend
from multianswer.evaluation.report import coverage_curve, summary_table, write_report
from multianswer.tasks import Example, Task, register_task

QUESTIONS = [(f"r{i}", f"Name a prime below {10 + i}.", ["2", "3", "5", "7"]) for i in range(6)]
register_task("report-fixed", lambda: Task("report-fixed", "primes", "tests",
                                           lambda split: [Example(i, p, a) for i, p, a in QUESTIONS]))


def _completions(fmt):
    sets = [["2", "3", "4"], ["9", "7", "5"], ["1", "2", "3"], ["4", "6", "8"], ["5", "5", "7"], ["3", "11", "13"]]
    confs = [[0.5, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.4, 0.3, 0.2], [0.6, 0.2, 0.2], [0.9, 0.05, 0.05]]
    if fmt == "multi-conf":
        return {p: [format_completion(a, fmt, c)] for (_, p, _), a, c in zip(QUESTIONS, sets, confs)}
    return {p: [format_completion([x], fmt) for x in a] for (_, p, _), a in zip(QUESTIONS, sets)}


@pytest.fixture()
def run_dir(tmp_path):
    out = tmp_path / "mc"
    evaluate(EvalArgs(model="replay", task="report-fixed", out=str(out), format="multi-conf", k=3,
                      bootstrap=100, progress=False), backend=ReplayBackend(_completions("multi-conf")))
    return out


def test_report_files_hold_the_metrics_and_three_plots(run_dir):
    md = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    assert "| coverage (any correct) |" in md and "| pass@3 |" in md and "| ECE ↓ |" in md
    for name in ("reliability", "coverage_tokens", "distinct_correct"):
        assert f"](plots/{name}.png)" in md
        assert (run_dir / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    images = re.findall(r'<img class="plot" alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
    assert [name for name, _ in images] == ["reliability", "coverage_tokens", "distinct_correct"]
    assert all(base64.b64decode(data)[:4] == b"\x89PNG" for _, data in images)
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "Name a prime below 10." in html and "✓ 2 (0.5)" in html
    assert "All 6 completions follow the format." in md


def test_format_failures_are_counted_by_reason():
    from multianswer.evaluation.report import format_failures

    rows = [{"completions": [{"format_ok": False, "reason": "missing_think"}, {"format_ok": True, "reason": "ok"}]},
            {"completions": [{"format_ok": False, "reason": "missing_think"}, {"format_ok": False, "reason": "wrong_count"}]}]
    assert format_failures(rows) == "3 of 4 completions break the format (missing_think 2, wrong_count 1)."


def test_report_regenerates_from_the_directory_alone(run_dir):
    before = (run_dir / "report.md").read_text()
    (run_dir / "report.md").unlink()
    (run_dir / "summary.json").unlink()  # recomputed from results.jsonl
    md, page = write_report(run_dir)
    assert md.read_text() == before and page.is_file()


def test_coverage_curve_points():
    single = {"format": AnswerFormat.SINGLE, "k": 3, "samples": 3, "tokens_per_completion": 20.0,
              "pass@1": 0.2, "pass@2": 0.3, "pass@3": 0.35}
    assert coverage_curve(single) == [(1, 20.0, 0.2), (2, 40.0, 0.3), (3, 60.0, 0.35)]
    multi = {"format": AnswerFormat.MULTI, "k": 3, "tokens_per_completion": 25.0, "coverage": 0.4}
    assert coverage_curve(multi) == [(3, 25.0, 0.4)]


def test_summary_table_shows_intervals():
    table = summary_table({"k": 1, "n_questions": 3, "coverage": 0.5, "coverage_ci": [0.25, 0.75], "top1": 0.5,
                           "top1_ci": None, "pass@1": 0.5})
    assert "| coverage (any correct) | 0.500 | [0.250, 0.750] |" in table and "| top-1 accuracy | 0.500 | — |" in table


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# set a marker on <body> once every image has loaded and decoded (naturalWidth > 0)
PROBE = ("<script>window.addEventListener('load',()=>{const im=[...document.images];"
         "document.body.dataset.decoded=im.filter(i=>i.complete&&i.naturalWidth>0).length+'/'+im.length;});</script>")


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)")
def test_html_report_renders_its_plots_in_headless_chromium(run_dir, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text((run_dir / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=5000"]
    dom = subprocess.run(flags + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-decoded="3/3"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run(flags + ["--window-size=1100,1500", f"--screenshot={shot}", (run_dir / "report.html").as_uri()],
                   capture_output=True, timeout=120, cwd=tmp_path)
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
