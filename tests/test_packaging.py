"""The project's own files: they must agree with each other."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(r) for r in dep["pip"]}
        else:
            conda.add(CONDA_NAMES.get(_name(dep), _name(dep)))
    assert (conda | pip) - {"python", "pip"} == wanted


def test_every_environment_dependency_is_commented():
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    deps = [line for line in text.splitlines()
            if re.match(r"\s+- ", line) and line.strip() not in ("- pip", "- pip:")]
    assert len(deps) >= 15
    assert all("#" in line for line in deps), [d for d in deps if "#" not in d]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "make course" in first_screen and "make test" in first_screen


def test_every_torch_load_is_weights_only():
    for path in (ROOT / "tlcourse").rglob("*.py"):
        for call in re.findall(r"torch\.load\([^)]*\)", path.read_text()):
            assert "weights_only=True" in call, f"{path}: {call}"
