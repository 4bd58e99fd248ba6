"""Regenerate the README's notebook table and latest results from a run report.

The README holds two generated blocks between HTML comments (``<!-- notebooks:start -->``
... ``<!-- notebooks:end -->`` and the same for ``results``); ``tlcourse readme`` rewrites
them from the notebooks and ``runs/latest/report.json``, so they are never typed by hand.
The "full, GPU" column shows a measured time from a GPU run's report where there is one,
else the T4 estimate of ``benchmarks/t4_estimate.json`` (``python -m
benchmarks.estimate_t4``), marked "(est.)".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tlcourse.runner import find_notebooks

__all__ = ["notebook_rows", "render_blocks", "update_readme"]


def _title_and_goal(path: Path) -> tuple[str, str]:
    nb = json.loads(path.read_text())
    text = "".join(nb["cells"][0]["source"])
    title = re.sub(r"^#\s*\d+\s*·\s*", "", text.splitlines()[0]).strip()
    goals = re.findall(r"^- (.+)$", text, flags=re.M)
    fallback = goals[0].rstrip(";.") if goals else ""
    return title, nb["metadata"].get("tlcourse", {}).get("learn", fallback)


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _gpu_time(run: dict, estimate: float | None) -> str:
    """A measured GPU time (or "failed"), else the estimate marked as one."""
    if run:
        return _minutes(run.get("wall_seconds")) if run.get("status") == "ok" else "failed"
    return f"~{_minutes(estimate)} (est.)" if estimate is not None else "not measured"


def notebook_rows(folder: Path, report: dict | None, gpu_report: dict | None = None,
                  gpu_estimate: dict | None = None) -> list[str]:
    """Markdown rows: number, linked title, what you learn, offline CPU time, GPU time.

    ``gpu_estimate``: notebook name -> estimated seconds on a T4, for the notebooks that
    ``gpu_report`` did not run."""
    def by_name(rep):
        return {e["name"]: e for e in (rep or {}).get("notebooks", [])}

    cpu, gpu, estimate = by_name(report), by_name(gpu_report), gpu_estimate or {}
    rows = ["| # | notebook | what you learn | offline, CPU | full, GPU |",
            "|---|---|---|---:|---:|"]
    for path in find_notebooks(folder):
        title, goal = _title_and_goal(path)
        run = cpu.get(path.stem, {})
        cpu_time = _minutes(run.get("wall_seconds")) if run.get("status") == "ok" else (
            "failed" if run else "not measured")
        gpu_time = _gpu_time(gpu.get(path.stem, {}), estimate.get(path.stem))
        rows.append(f"| {path.stem[:2]} | [{title}](notebooks/{path.name}) | {goal} | "
                    f"{cpu_time} | {gpu_time} |")
    return rows


def _key_metrics(folder: Path) -> dict[str, list[str]]:
    """Per notebook, the metrics its metadata names as its findings (``key_metrics``)."""
    return {path.stem: json.loads(path.read_text())["metadata"].get("tlcourse", {})
            .get("key_metrics", []) for path in find_notebooks(folder)}


def _results(report: dict | None, folder: Path | None = None) -> list[str]:
    """The results table: per notebook its claims and key metrics (those its metadata
    names under ``key_metrics``, else the first four it recorded)."""
    if not report:
        return ["No run yet: `make course` writes `runs/latest/report.json`, then "
                "`tlcourse readme` fills this in."]
    lines = [f"From `make course` on {report['created']}:", "",
             "| notebook | profile | device | status | claims held | key metrics |",
             "|---|---|---|---|---:|---|"]
    keys = _key_metrics(folder) if folder is not None else {}
    for e in report["notebooks"]:
        held = f"{sum(c['held'] for c in e['claims'])}/{len(e['claims'])}"
        shown = [k for k in keys.get(e["name"], []) if k in e["metrics"]] or \
            list(e["metrics"])[:4]
        metrics = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in ((k, e["metrics"][k]) for k in shown))
        lines.append(f"| {e['name']} | {e['profile']} | {e['device']} | {e['status']} | "
                     f"{held} | {metrics} |")
    return lines


#: Minutes of teaching and exercises per lesson, beside the measured run time.
TEACH_MINUTES = 60


def schedule_rows(folder: Path, report: dict | None, start: str = "09:00",
                  lunch_after: str = "12:00") -> list[str]:
    """A one-day schedule: each lesson's teaching time plus its measured CPU run time."""
    runs = {e["name"]: e for e in (report or {}).get("notebooks", [])}
    hour, minute = map(int, start.split(":"))
    clock, lunch = hour * 60 + minute, sum(int(x) * m for x, m in zip(
        lunch_after.split(":"), (60, 1), strict=True))
    rows = ["| start | notebook | teaching + exercises | run time here (offline, CPU) |",
            "|---|---|---:|---:|"]
    lunch_done = False
    for path in find_notebooks(folder):
        if not lunch_done and clock >= lunch:
            rows.append(f"| {clock // 60:02d}:{clock % 60:02d} | lunch | 60 min | |")
            clock, lunch_done = clock + 60, True
        meta = json.loads(path.read_text())["metadata"].get("tlcourse", {})
        teach = int(meta.get("teach_minutes", TEACH_MINUTES))
        seconds = runs.get(path.stem, {}).get("wall_seconds")
        rows.append(f"| {clock // 60:02d}:{clock % 60:02d} | {path.stem} | {teach} min | "
                    f"{_minutes(seconds)} |")
        clock += teach + (int(seconds // 60) + 1 if seconds else 0) + 10  # + a 10 min break
    return rows


def render_blocks(folder: Path, report: dict | None, gpu_report: dict | None = None,
                  blocks: tuple[str, ...] = ("notebooks", "results", "schedule"),
                  gpu_estimate: dict | None = None) -> dict:
    """The Markdown of each named generated block."""
    makers = {"notebooks": lambda: notebook_rows(folder, report, gpu_report, gpu_estimate),
              "results": lambda: _results(report, folder),
              "schedule": lambda: schedule_rows(folder, report)}
    return {name: "\n".join(makers[name]()) for name in blocks}


def update_readme(readme: str | Path = "README.md", folder: str | Path = "notebooks",
                  report_path: str | Path = "runs/latest/report.json",
                  gpu_report_path: str | Path | None = None,
                  blocks: tuple[str, ...] = ("notebooks", "results"),
                  gpu_estimate_path: str | Path | None = None) -> bool:
    """Rewrite the generated ``blocks`` of ``readme`` (any Markdown file); returns whether
    anything changed. The instructor guide uses the ``schedule`` block.

    ``gpu_estimate_path``: the T4 estimates (None: ``benchmarks/t4_estimate.json`` beside
    the notebooks' folder)."""
    readme, report_path = Path(readme), Path(report_path)
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    gpu = (json.loads(Path(gpu_report_path).read_text())
           if gpu_report_path and Path(gpu_report_path).exists() else None)
    for path, rep in ((report_path, report), (gpu_report_path, gpu)):
        if rep and rep.get("rehearsal"):
            raise ValueError(f"{path} is a full-profile rehearsal on stand-in files (random "
                             "weights): its numbers are not results. Give the report of a real "
                             "run (make course, or tlcourse run on a GPU).")
    estimate_path = Path(gpu_estimate_path or Path(folder).resolve().parent / "benchmarks"
                         / "t4_estimate.json")
    estimate = (json.loads(estimate_path.read_text())["seconds"] if estimate_path.exists()
                else None)
    text = before = readme.read_text()
    for name, body in render_blocks(Path(folder), report, gpu, blocks, estimate).items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"{readme} has no <!-- {name}:start --> ... <!-- {name}:end --> "
                             "block to fill")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    readme.write_text(text)
    return text != before
