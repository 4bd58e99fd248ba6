"""Execute the course's notebooks with papermill and report what each run showed.

``run_course`` writes every executed notebook into ``runs/<timestamp>/`` (and points
``runs/latest`` at it) with ``report.json``, ``report.md`` and ``report.html``: per
notebook its profile, device, wall time, status, recorded metrics and claims. A rehearsal
of the full profile on stand-in files (``TLCOURSE_REHEARSAL=1``) is marked as one in every
entry, at the top of the report and in its title, so that it is never read as a result.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from tlcourse.claims import MIME, REHEARSAL_NOTE, describe, rehearsal

__all__ = ["find_notebooks", "read_outputs", "run_course", "run_notebook", "write_reports"]


def find_notebooks(folder: str | Path = "notebooks") -> list[Path]:
    """The lesson notebooks (``NN_name.ipynb``) in order, without solutions notebooks."""
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    return [p for p in paths if not p.stem.endswith("_solutions")]


def read_outputs(notebook_path: str | Path) -> dict:
    """Metrics, claims and environment that an executed notebook emitted (see claims.py)."""
    nb = json.loads(Path(notebook_path).read_text())
    found: dict = {"metrics": {}, "claims": [], "environment": {}}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(MIME)
            if not payload:
                continue
            found["metrics"].update(payload.get("metrics", {}))
            if "claim" in payload:
                found["claims"].append(payload["claim"])
            found["environment"].update(payload.get("environment", {}))
    return found


def _kernel_manager_class(socket_dir: str | None = None):
    """On Linux and macOS, kernels talk to the runner over local (IPC) sockets: nothing
    listens on a TCP port, and ipykernel has no reason to print its warning that TCP
    traffic is unencrypted (which learners read as a security problem). Windows keeps TCP.

    The socket files go in ``socket_dir``, one private folder per run: jupyter_client's
    default is ``kernel-ipc-N`` in the working directory, where two runs started at once
    (two notebooks in parallel, in one folder) pick the same N and read each other's
    messages ("Invalid Signature")."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    if os.name == "nt" or socket_dir is None:
        return AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        def _ip_default(self) -> str:
            return os.path.join(socket_dir, "kernel")

    return IPCKernelManager


def run_notebook(path: Path, out_dir: Path, parameters: dict | None = None,
                 kernel_name: str | None = None, timeout: int = 1800) -> dict:
    """Execute one notebook into ``out_dir``; return its report entry."""
    try:
        import papermill
    except ImportError as err:  # the `course` extra; Colab's setup cell installs without it
        raise ImportError("running notebooks headless needs papermill (the `course` extra): "
                          "pip install -e '.[course]', or `make course`, which installs it"
                          ) from err

    out_path = out_dir / path.name
    start = time.perf_counter()
    status, error = "ok", None
    try:
        with tempfile.TemporaryDirectory(prefix="tlc-kernel-") as socket_dir:
            papermill.execute_notebook(str(path), str(out_path), parameters=parameters or {},
                                       kernel_name=kernel_name, progress_bar=False,
                                       execution_timeout=timeout, cwd=str(path.parent),
                                       kernel_manager_class=_kernel_manager_class(socket_dir))
    except Exception as err:  # papermill wraps the cell's error; keep the run going
        status = "failed"
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err) else ''}"
    seconds = time.perf_counter() - start
    outputs = read_outputs(out_path) if out_path.exists() else {"metrics": {}, "claims": [],
                                                                "environment": {}}
    env = outputs["environment"]
    return {"name": path.stem, "profile": env.get("profile"), "device": env.get("device"),
            "gpu": env.get("gpu"), "rehearsal": bool(env.get("rehearsal") or rehearsal()
                                   or any(c.get("rehearsal") for c in outputs["claims"])),
            "wall_seconds": round(seconds, 1), "status": status,
            "error": error, "metrics": outputs["metrics"], "claims": outputs["claims"],
            "output": out_path.name}


def run_course(notebooks: list[Path], runs_dir: str | Path = "runs", profile: str = "auto",
               parameters: dict | None = None, kernel_name: str | None = None) -> Path:
    """Run ``notebooks`` in order into a new ``runs_dir/<timestamp>/``; write the reports."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(runs_dir) / stamp
    out_dir.mkdir(parents=True, exist_ok=False)
    entries = []
    for path in notebooks:
        print(f"running {path.name} ...", flush=True)
        entry = run_notebook(path, out_dir, {"PROFILE": profile} | (parameters or {}),
                             kernel_name)
        held = sum(c["held"] for c in entry["claims"])
        print(f"  {entry['status']} in {entry['wall_seconds']} s, claims held "
              f"{held}/{len(entry['claims'])}" + (f" - {entry['error']}" if entry["error"]
                                                  else ""), flush=True)
        entries.append(entry)
    write_reports(out_dir, entries)
    latest = Path(runs_dir) / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.is_dir():
        shutil.rmtree(latest)
    try:
        latest.symlink_to(stamp, target_is_directory=True)
    except OSError:  # no symlinks (some Windows setups): keep a copy
        shutil.copytree(out_dir, latest)
    return out_dir


def write_reports(out_dir: Path, entries: list[dict]) -> None:
    """``report.json``, ``report.md`` and ``report.html`` for a run's entries."""
    report = {"created": dt.datetime.now().isoformat(timespec="seconds"),
              "ok": all(e["status"] == "ok" for e in entries),
              "rehearsal": any(e.get("rehearsal") for e in entries), "notebooks": entries}
    tmp = out_dir / ".report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out_dir / "report.json")
    (out_dir / "report.md").write_text(_markdown(report))
    (out_dir / "report.html").write_text(_html(report))


def _claims_text(entry: dict) -> str:
    return f"{sum(c['held'] for c in entry['claims'])}/{len(entry['claims'])}"


def _markdown(report: dict) -> str:
    title = "Rehearsal (not results)" if report.get("rehearsal") else "Course run"
    lines = [f"# {title}, {report['created']}", ""]
    if report.get("rehearsal"):
        lines += [f"**{REHEARSAL_NOTE}.**", ""]
    lines += [
             "| notebook | profile | device | seconds | status | claims held |",
             "|---|---|---|---:|---|---:|"]
    lines += [f"| {e['name']} | {e['profile']} | {e['device']} | {e['wall_seconds']} | "
              f"{e['status']} | {_claims_text(e)} |" for e in report["notebooks"]]
    for e in report["notebooks"]:
        lines += ["", f"## {e['name']}", ""]
        if e["error"]:
            lines += [f"**Error:** `{e['error']}`", ""]
        lines += [f"- metric `{k}` = {v}" for k, v in e["metrics"].items()]
        lines += [f"- claim {'held' if c['held'] else '**FAILED**'}: {c['text']}"
                  f"{describe(c)}" for c in e["claims"]]
    return "\n".join(lines) + "\n"


def _html(report: dict) -> str:
    esc = html.escape
    title = "Rehearsal (not results)" if report.get("rehearsal") else "Course run"
    note = f"<p><b>{esc(REHEARSAL_NOTE)}.</b></p>" if report.get("rehearsal") else ""
    rows = "".join(
        f"<tr><td>{esc(e['name'])}</td><td>{esc(str(e['profile']))}</td>"
        f"<td>{esc(str(e['device']))}</td><td>{e['wall_seconds']}</td>"
        f"<td>{esc(e['status'])}</td><td>{_claims_text(e)}</td></tr>" for e in report["notebooks"])
    details = "".join(
        f"<h2>{esc(e['name'])}</h2><ul>"
        + "".join(f"<li>metric <code>{esc(k)}</code> = {esc(str(v))}</li>"
                  for k, v in e["metrics"].items())
        + "".join(f"<li>claim {'held' if c['held'] else '<b>FAILED</b>'}: {esc(c['text'])}"
                  f"{esc(describe(c))}</li>" for c in e["claims"]) + "</ul>"
        for e in report["notebooks"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>tlcourse run</title>"
            f"</head><body><h1>{title}, {esc(report['created'])}</h1>{note}<table border='1'>"
            "<tr><th>notebook</th><th>profile</th><th>device</th><th>seconds</th>"
            f"<th>status</th><th>claims held</th></tr>{rows}</table>{details}</body></html>\n")
