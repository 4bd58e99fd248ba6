"""Each notebook's wall time in the offline profile, from the last ``make course`` run.

Notebooks are not re-run here (``tlcourse run`` / ``make course`` does that, and writes
``runs/latest/report.json``); this reads that report and says which run it came from.

    python -m benchmarks.bench_notebooks [path/to/report.json]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from benchmarks.common import write_section

REPORT = Path("runs") / "latest" / "report.json"  # relative to the repository root


def main(report_path: str | os.PathLike = REPORT) -> dict:
    path = Path(report_path)
    report = json.loads(path.read_text()) if path.exists() else None
    rehearsal = bool(report and report.get("rehearsal"))
    if report is None or rehearsal:
        why = ("is a full-profile rehearsal on stand-in files, not a course run" if rehearsal
               else "is missing")
        lines = [f"No course run found (`{path}` {why}): run `make course`, then "
                 "`make bench` again. Notebooks are not re-run by the benchmarks."]
        result = "no run to read"
    else:
        run = path.resolve().parent.name
        entries = report["notebooks"]
        total = sum(e["wall_seconds"] for e in entries)
        lines = [f"From the run `runs/{run}` (created {report['created']}), read from "
                 f"`{path.name}`; not re-run here.", "",
                 "| notebook | profile | device | wall time (s) | status |",
                 "|---|---|---|---:|---|"]
        lines += [f"| {e['name']} | {e['profile']} | {e['device']} | {e['wall_seconds']} | "
                  f"{e['status']} |" for e in entries]
        lines += ["", f"All {len(entries)} notebooks: {total:.0f} s ({total / 60:.1f} min)."]
        result = f"{len(entries)} notebooks, {total:.0f} s in all (run {run})"
    write_section("Notebook wall times (offline profile)", lines)
    print("\n".join(lines))
    return {"target": "each notebook's offline wall time (recorded, no target)",
            "result": result,
            "verdict": "recorded" if report is not None and not rehearsal else "not measured"}


if __name__ == "__main__":
    main(*sys.argv[1:2])
