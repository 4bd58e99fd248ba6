"""The README's generated blocks come from the notebooks and a run report."""

import json
import shutil

import pytest

from tlcourse.readme import update_readme

from .conftest import NOTEBOOKS, ROOT


@pytest.fixture
def readme(tmp_path):
    path = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", path)
    return path


def test_tables_are_filled_from_the_report(readme, tmp_path):
    report = {"created": "2026-01-01T00:00:00", "notebooks": [
        {"name": "00_setup", "profile": "offline", "device": "cpu", "wall_seconds": 12.3,
         "status": "ok", "metrics": {"acc": 0.91234}, "claims": [
             {"text": "a", "held": True, "numbers": {}}]}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert update_readme(readme, NOTEBOOKS, tmp_path / "report.json")
    text = readme.read_text()
    assert "| 00 | [Setup and orientation: what transfer learning is](notebooks/00_setup.ipynb)" \
        in text
    assert "| 12 s | ~40 s (est.) |" in text  # no GPU run: the T4 estimate, marked
    assert "| 00_setup | offline | cpu | ok | 1/1 | acc 0.912 |" in text
    assert not update_readme(readme, NOTEBOOKS, tmp_path / "report.json")  # idempotent


def test_without_a_run_the_readme_says_how_to_get_one(readme, tmp_path):
    update_readme(readme, NOTEBOOKS, tmp_path / "missing.json")
    assert "No run yet: `make course`" in readme.read_text()


def test_a_readme_without_the_blocks_is_an_error(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# nothing to fill\n")
    with pytest.raises(ValueError, match="notebooks:start"):
        update_readme(path, NOTEBOOKS, tmp_path / "missing.json")


def test_the_instructor_schedule_adds_measured_run_times(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n<!-- schedule:start -->\n<!-- schedule:end -->\n")
    report = {"created": "x", "notebooks": [
        {"name": "00_setup", "wall_seconds": 125.0, "status": "ok"}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    update_readme(guide, NOTEBOOKS, tmp_path / "report.json", blocks=("schedule",))
    text = guide.read_text()
    assert "| 09:00 | 00_setup | 30 min | 2.1 min |" in text


def test_key_metrics_named_by_a_notebook_come_first_and_missing_ones_are_left_out(readme,
                                                                                    tmp_path):
    keys = json.loads((NOTEBOOKS / "05_capstone.ipynb").read_text())["metadata"]["tlcourse"][
        "key_metrics"]
    assert keys[:3] == ["backbone", "chosen", "test_acc"]
    metrics = {"num_images": 143, "test_acc": 0.82857, "chosen": "fine-tuning",
               "backbone": "efficientnet_lite0", "val_acc_pixels": 0.655}
    report = {"created": "x", "notebooks": [
        {"name": "05_capstone", "profile": "offline", "device": "cpu", "wall_seconds": 20.0,
         "status": "ok", "metrics": metrics, "claims": []},
        {"name": "00_setup", "profile": "offline", "device": "cpu", "wall_seconds": 7.0,
         "status": "ok", "metrics": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, "claims": []}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    update_readme(readme, NOTEBOOKS, tmp_path / "report.json")
    text = readme.read_text()
    # the declared ones, in the declared order (majority_test_acc was not recorded: left out)
    assert ("| 05_capstone | offline | cpu | ok | 0/0 | backbone efficientnet_lite0, "
            "chosen fine-tuning, test_acc 0.829 |") in text
    assert "| 00_setup | offline | cpu | ok | 0/0 | a 1, b 2, c 3, d 4 |" in text  # none named


def test_a_gpu_run_replaces_the_t4_estimate(readme, tmp_path):
    gpu = {"created": "x", "notebooks": [
        {"name": "00_setup", "wall_seconds": 95.0, "status": "ok"},
        {"name": "01_feature_extraction", "wall_seconds": 5.0, "status": "failed"}]}
    (tmp_path / "gpu.json").write_text(json.dumps(gpu))
    (tmp_path / "estimate.json").write_text(json.dumps({"seconds": {
        "00_setup": 40, "01_feature_extraction": 218, "02_fine_tuning": 851}}))
    update_readme(readme, NOTEBOOKS, tmp_path / "missing.json", tmp_path / "gpu.json",
                  gpu_estimate_path=tmp_path / "estimate.json")
    rows = {line.split(" | ")[0]: line for line in readme.read_text().splitlines()
            if line.startswith("| 0")}
    assert rows["| 00"].endswith("| not measured | 1.6 min |")      # measured on a GPU
    assert rows["| 01"].endswith("| not measured | failed |")
    assert rows["| 02"].endswith("| not measured | ~14.2 min (est.) |")
    assert rows["| 03"].endswith("| not measured | not measured |")  # neither


@pytest.mark.parametrize("which", ["report", "gpu"])
def test_a_rehearsal_report_is_refused_and_the_readme_left_as_it_was(readme, tmp_path, which):
    rehearsal = {"created": "x", "rehearsal": True, "notebooks": [
        {"name": "00_setup", "wall_seconds": 9.0, "status": "ok"}]}
    (tmp_path / "rehearsal.json").write_text(json.dumps(rehearsal))
    before = readme.read_text()
    paths = ((tmp_path / "rehearsal.json", None) if which == "report"
             else (tmp_path / "missing.json", tmp_path / "rehearsal.json"))
    with pytest.raises(ValueError, match=r"rehearsal on stand-in files.*not results"):
        update_readme(readme, NOTEBOOKS, *paths)
    assert readme.read_text() == before


def test_the_readme_shows_the_committed_t4_estimates():
    # The README's table is what `tlcourse readme` writes from benchmarks/t4_estimate.json.
    estimate = json.loads((ROOT / "benchmarks" / "t4_estimate.json").read_text())["seconds"]
    text = (ROOT / "README.md").read_text()
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| {path.stem[:2]} | [") and path.name in line)
        seconds = estimate[path.stem]
        shown = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
        assert row.endswith(f"| ~{shown} (est.) |"), row
