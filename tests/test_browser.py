"""Notebook 01 in a real browser: JupyterLab, Debian's Chromium, driven by Playwright.

nbval and papermill run the notebooks without a front end, so they cannot see what a
learner sees: a widget drawn as ``HBox(children=...)`` text because the widget manager
is missing, a progress bar that falls back to text, an explorer that does not redraw.
This test starts JupyterLab on a free loopback port (a token, its own runtime, config,
data and settings folders), opens a copy of notebook 01 (the repository's notebooks stay
without outputs), runs all cells from the Run menu, waits for the kernel, and checks
the page: no error output, the neighbour explorer is a widget whose figure changes when
another query is picked, a tqdm widget progress bar. A screenshot is left in the
test's ``tmp_path``.

It skips, saying why, where Playwright, JupyterLab or Chromium is missing or Chromium
cannot start. ``make test`` installs all three (Chromium with apt-get, as root).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tlcourse.exercises import solutions

pytestmark = [pytest.mark.browser, pytest.mark.notebooks]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_feature_extraction.ipynb"

#: Debian's chromium; ``TLCOURSE_CHROMIUM`` names another binary.
CHROMIUM = os.environ.get("TLCOURSE_CHROMIUM", "/usr/bin/chromium")
#: Without the background-networking switches Chromium's own connections (updates, sync,
#: field trials) are refused by a closed network and slow every page down.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

SERVER_START_S = 90    # JupyterLab answering on its port
PAGE_LOAD_S = 120      # the notebook open, its kernel started and idle
RUN_ALL_S = 600        # notebook 01: 70-90 s on this 2-core CPU; room for a busy machine
REDRAW_S = 90          # the explorer's new figure after another query is picked

STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _write_settings(settings_dir: Path) -> None:
    """JupyterLab's settings for the test: no news, no update check (no network calls)."""
    notification = settings_dir / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, work: Path):
    """JupyterLab serving ``root_dir`` on 127.0.0.1 -> ``(base_url, token)``; stopped after.

    Its runtime, config, data, settings, workspace and IPython folders are fresh ones
    under ``work``, so neither the user's setup nor a running server is involved.
    """
    pytest.importorskip("jupyterlab", reason="needs JupyterLab: pip install -e '.[lab,browser]'")
    token = secrets.token_hex(24)
    env = dict(os.environ)
    for name in ("runtime", "config", "data", "settings", "workspaces", "ipython"):
        (work / name).mkdir()
    env.update(JUPYTER_RUNTIME_DIR=str(work / "runtime"), JUPYTER_CONFIG_DIR=str(work / "config"),
               JUPYTER_DATA_DIR=str(work / "data"), IPYTHONDIR=str(work / "ipython"),
               JUPYTERLAB_SETTINGS_DIR=str(work / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
               JUPYTER_PLATFORM_DIRS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_TOKEN", None)
    env.pop(solutions.ENV_VAR, None)  # a learner's kernel: Run All skips the solutions
    _write_settings(work / "settings")
    options = ["--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        options.append("--ServerApp.allow_root=True")
    log_path = work / "server.log"
    log = log_path.open("wb")
    for _attempt in range(3):  # another process may take the free port before the server does
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", f"--ServerApp.port={port}", *options],
            cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_S
        while server.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                _get(f"{base}/api/status?token={token}")
                break
            time.sleep(0.5)
        if server.poll() is None or "already in use" not in log_path.read_text(errors="replace"):
            break
    try:
        if server.poll() is not None or time.monotonic() >= deadline:
            tail = log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{tail}")
        yield base, token
    finally:
        # SIGTERM: the server shuts its kernels down; a kernel whose server is killed
        # exits by itself too (ipykernel watches its parent).
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def chromium_page(work: Path):
    """A fresh headless Chromium page (its own user-data folder); skips if it cannot start."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="needs Playwright: pip install -e '.[lab,browser]'")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"needs Chromium at {CHROMIUM}: apt-get install -y chromium (as root; "
                    "make test does it) or set TLCOURSE_CHROMIUM to a Chromium binary")
    with sync_api.sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                str(work / "chromium-profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000}, timeout=60_000)
        except sync_api.Error as error:
            first_line = str(error).strip().splitlines()[0]
            pytest.skip(f"Chromium at {CHROMIUM} cannot start: {first_line}")
        try:
            context.set_default_timeout(30_000)
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def _wait_until(condition, timeout: float, what: str, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _kernel_idle(page) -> bool:
    return page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0


def _prompts(page) -> list[str]:
    """The input prompts of the code cells: '[3]:', '[*]:' (queued or running), '[ ]:'.

    (Text content, not inner text: JupyterLab skips rendering cells out of view, and the
    inner text of an element not rendered is empty.)
    """
    return [t.strip() for t in page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()]


def _run_all(page, timeout: float) -> float:
    """Run > Run All Cells, then wait until no cell is queued and the kernel is idle."""
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    start = time.monotonic()
    _wait_until(lambda: "[*]:" in _prompts(page), 30, "the cells to be queued", poll=0.2)

    # Idle and nothing queued, three polls in a row: the kernel is idle for a moment between
    # two cells, and a cell with a hidden input shows no '[*]'.
    quiet = [0]

    def finished():
        quiet[0] = quiet[0] + 1 if _kernel_idle(page) and "[*]:" not in _prompts(page) else 0
        return quiet[0] >= 3

    _wait_until(finished, timeout, "Run All Cells to finish")
    return time.monotonic() - start


def _error_outputs(page) -> list[str]:
    """Error outputs as shown (JupyterLab draws an exception as stderr with its traceback),
    and tqdm's warning that it fell back to a text bar."""
    return [text[-2000:] for text in page.locator(STDERR).all_text_contents()
            if "Traceback" in text or "IProgress not found" in text]


def _save(page, path: Path) -> list[dict]:
    """Save the notebook (File > Save) and return the saved file's code cells."""
    before = path.stat().st_mtime_ns
    page.locator(".lm-MenuBar-item", has_text="File").first.click()
    page.locator('.lm-Menu-item[data-command="docmanager:save"]').click()
    _wait_until(lambda: path.stat().st_mtime_ns != before, 30, "the notebook to be saved",
                poll=0.2)
    time.sleep(0.5)
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def _explorer_image(cell) -> str:
    return cell.locator(".jp-RenderedImage img").first.get_attribute("src") or ""


def test_notebook_01_runs_in_jupyterlab_with_live_widgets(tmp_path):
    lab_root = tmp_path / "lab"
    lab_root.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, lab_root / NOTEBOOK)
    num_code_cells = len([cell for cell in json.loads((lab_root / NOTEBOOK).read_text())["cells"]
                          if cell["cell_type"] == "code"])

    with chromium_page(tmp_path) as page, jupyter_lab(lab_root, tmp_path) as (base, token):
        try:
            _check_notebook_01(page, f"{base}/lab/tree/{NOTEBOOK}?token={token}",
                               lab_root / NOTEBOOK, num_code_cells, tmp_path)
        finally:  # what the page showed at the end, passed or failed
            with contextlib.suppress(Exception):  # never hide the test's own error
                page.screenshot(path=str(tmp_path / "notebook01.png"))
    assert (tmp_path / "notebook01.png").stat().st_size > 10_000


def _check_notebook_01(page, url: str, path: Path, num_code_cells: int, tmp_path: Path):
    page.goto(url, timeout=PAGE_LOAD_S * 1000)
    _wait_until(lambda: len(_prompts(page)) == num_code_cells and _kernel_idle(page),
                PAGE_LOAD_S, "the notebook's cells and an idle kernel")

    seconds = _run_all(page, RUN_ALL_S)
    print(f"Run All Cells: {seconds:.0f} s")

    # No output is an error, and every code cell ran (Run All stops at an error): on the
    # page, and in the notebook as JupyterLab saves it.
    errors = _error_outputs(page)
    assert not errors, "error output in the notebook:\n\n" + "\n\n".join(errors)
    prompts = _prompts(page)  # a cell with a hidden input (a solution) shows none
    not_run = [i for i, p in enumerate(prompts) if p in ("[ ]:", "[*]:")]
    assert not not_run, f"code cells {not_run} did not run (prompts {prompts})"
    saved = _save(page, path)
    assert len(saved) == num_code_cells
    saved_errors = [f"code cell {i}: {out['ename']}: {out['evalue']}"
                    for i, cell in enumerate(saved) for out in cell["outputs"]
                    if out["output_type"] == "error"]
    assert not saved_errors, saved_errors
    not_run = [i for i, cell in enumerate(saved) if not cell["execution_count"]]
    assert not not_run, f"code cells {not_run} have no execution count in the saved file"

    # Run All did not run the worked solutions: each says so, and the exercise above it
    # keeps its own feedback.
    def stream(cell):
        texts = [out.get("text", "") for out in cell["outputs"] if out["output_type"] == "stream"]
        return "".join(t if isinstance(t, str) else "".join(t) for t in texts)

    sols = [i for i, cell in enumerate(saved) if "solution" in cell["metadata"].get("tags", [])]
    assert sols, "notebook 01 has no solution cells"
    shown = {i: stream(saved[i]).strip() for i in sols}
    assert all(text == solutions.SKIPPED for text in shown.values()), shown
    assert all("Not yet" in stream(saved[i - 1]) for i in sols), [stream(saved[i - 1])
                                                                   for i in sols]

    # Progress bars are tqdm widgets (a bar element), not tqdm's text fallback.
    bars = page.locator(".jp-OutputArea .widget-hprogress .progress-bar")
    assert bars.count() >= 1, "no widget progress bar in the notebook's outputs"
    curve = page.locator(".jp-OutputArea .widget-hbox", has_text="learning curve")
    assert curve.count() == 1, "the learning-curve cell shows no widget progress bar"
    assert curve.locator(".widget-hprogress .progress-bar").count() == 1
    assert "100%" in curve.text_content()
    curve.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "progress-bar.png"))

    # The neighbour explorer is a live widget, not the text repr of one.
    explorer = page.locator(".jp-CodeCell", has=page.locator(
        ".jp-InputArea", has_text="tlc.widgets.neighbour_explorer(")).first
    explorer.scroll_into_view_if_needed()
    text = explorer.locator(".jp-OutputArea").text_content()
    assert "HBox(children" not in text and "Dropdown(" not in text, text[:500]
    assert explorer.locator(".jp-OutputArea .jupyter-widgets.widget-hbox").count() == 1
    dropdown = explorer.locator(".widget-dropdown select")
    assert dropdown.count() == 1, "the explorer has no dropdown"
    assert explorer.locator(".widget-slider").count() == 1, "the explorer has no k slider"
    before = _explorer_image(explorer)
    assert before.startswith("data:image/png"), before[:80]

    # Another query redraws the figure in place.
    values = dropdown.locator("option").evaluate_all("options => options.map(o => o.value)")
    current = dropdown.input_value()
    dropdown.select_option(next(v for v in values if v != current))
    after = _wait_until(lambda: (src := _explorer_image(explorer)) != before and src,
                        REDRAW_S, "the explorer to redraw for another query", poll=0.5)
    assert after.startswith("data:image/png"), after[:80]
    assert explorer.locator(".jp-RenderedImage img").count() == 1  # replaced, not added
    assert not _error_outputs(page)
    explorer.scroll_into_view_if_needed()
