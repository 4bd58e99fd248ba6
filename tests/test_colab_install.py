"""The notebooks' Colab install changes none of the packages Colab already has.

Colab ships its own torch, numpy, ipywidgets 7.7 and a pinned kernel (ipykernel, ipython);
upgrading any of them makes Colab ask for a restart of the runtime, or crash it, before the
learner has typed anything. So the setup cell's ``%pip install`` (``skeleton.COLAB_INSTALL``)
is resolved here as pip would resolve it on Colab: Python 3.12 on Linux x86-64, every package
of ``tests/colab/colab-constraints.txt`` (Colab's ``pip freeze``) already installed, the index
PyPI. Each of those packages is installed as an empty stand-in (a ``.dist-info`` with its name
and version), so pip keeps what satisfies the course's ranges, picks the newest release of what
is missing, and upgrades what does not satisfy them: exactly what it would do on Colab.
``pip install --dry-run --report`` says what it would install; none of it may be Colab's.

Needs PyPI (the index is reachable in CI); skips, saying so, only where it is not.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tlcourse.skeleton import COLAB_DIR, COLAB_INSTALL

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "tests" / "colab" / "colab-constraints.txt"
PYTHON = "3.12"  # Colab's (os-info-gpu.txt: Python 3.12.13)
# Colab's image is Ubuntu 22.04 (glibc 2.35); pip takes no "or older" for --platform.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)] + [
    "manylinux2014_x86_64", "linux_x86_64"]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_packages() -> dict[str, str]:
    """Colab's preinstalled packages: normalised name -> version, from the constraints file."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_normalise(name)] = version.strip()
    return pins


def _index_url() -> str:
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")


def _require_index() -> None:
    url = _index_url().rstrip("/") + "/pip/"
    try:
        urllib.request.urlopen(url, timeout=15).close()
    except OSError as err:
        pytest.skip(f"the package index {_index_url()} is unreachable ({err}): cannot resolve "
                    "the Colab install (needs PyPI, as in CI)")


def _stand_ins(folder: Path, packages: dict[str, str]) -> None:
    """An empty installed distribution per package: what pip sees as Colab's environment."""
    for name, version in packages.items():
        info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text("colab\n")


def would_install(install_args: list[str], tmp_path: Path,
                  packages: dict[str, str]) -> dict[str, str]:
    """What ``pip install <install_args>`` would install or upgrade in an environment holding
    ``packages`` (name -> version), for Python 3.12 on Linux x86-64: name -> new version.

    pip runs isolated from this interpreter's own packages (``-I -S``: only the stand-ins and
    a copy of pip are importable) and from this machine's pip configuration.
    """
    import pip

    site = tmp_path / "site"
    _stand_ins(site, packages)
    pip_copy = tmp_path / "pip-only"
    shutil.copytree(Path(pip.__file__).parent, pip_copy / "pip")
    report = tmp_path / "report.json"
    options = ["install", "--dry-run", "--quiet", "--report", str(report),
               "--python-version", PYTHON, "--implementation", "cp", "--only-binary=:all:",
               "--index-url", _index_url(), "--disable-pip-version-check",
               *(f"--platform={p}" for p in PLATFORMS), *install_args]
    code = (f"import sys; sys.path[:0] = [{str(site)!r}, {str(pip_copy)!r}]; "
            "from pip._internal.cli.main import main; sys.exit(main(sys.argv[1:]))")
    keep = ("PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_TRUSTED_HOST")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in keep}
    env["PIP_CONFIG_FILE"] = os.devnull
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, *options], env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"pip could not resolve `pip install {shlex.join(install_args)}` "
                             f"among Colab's packages:\n{done.stderr[-3000:]}")
    return {_normalise(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


def _changed(installs: dict[str, str], packages: dict[str, str]) -> list[str]:
    return sorted(f"{name} {packages[name]} -> {version}"
                  for name, version in installs.items() if name in packages)


def test_the_constraints_are_colabs_package_list():
    packages = colab_packages()
    assert len(packages) > 500
    # the packages the course's ranges must accept, as Colab has them
    assert packages["ipywidgets"].startswith("7.")
    assert {"torch", "torchvision", "numpy", "ipykernel", "ipython", "matplotlib"} <= set(
        packages)


def test_the_colab_install_changes_none_of_colabs_packages(tmp_path):
    _require_index()
    packages = colab_packages()
    args = shlex.split(COLAB_INSTALL.replace(COLAB_DIR, str(ROOT)))
    installs = would_install(args, tmp_path, packages)
    assert "tlcourse" in installs, installs
    changed = _changed(installs, packages)
    assert not changed, (
        f"`%pip install {COLAB_INSTALL}` would change Colab's own packages ({', '.join(changed)})"
        ": Colab then asks for a restart, or its runtime crashes. Widen the ranges in "
        f"pyproject.toml, or move the package out of the core install. pip would install: "
        f"{installs}")


def test_the_check_sees_an_upgrade_of_a_colab_package(tmp_path):
    # A stand-in project that asks for ipywidgets 8, as pyproject.toml did: the upgrade shows.
    _require_index()
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"'
        '\n\n[project]\nname = "standin"\nversion = "0"\ndependencies = ["ipywidgets>=8.0"]\n'
        '\n[tool.setuptools]\npy-modules = []\n')
    packages = colab_packages()
    changed = _changed(would_install(["-e", str(project)], tmp_path / "pip", packages),
                       packages)
    assert any(line.startswith("ipywidgets 7.7.1 -> 8.") for line in changed), changed
