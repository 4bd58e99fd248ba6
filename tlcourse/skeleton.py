"""The parts every notebook shares, kept in one place: the repository URL, the Colab badge
and the setup cell. ``python -m tlcourse.skeleton`` rewrites them in every notebook (after
the URL changes, say); a test checks that the notebooks agree with this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["COLAB_DIR", "COLAB_INSTALL", "REPO_URL", "badge", "setup_cell", "sync"]

#: The course repository: the ONE place its address is written.
REPO_URL = "https://github.com/tlcourse/tlcourse"

#: Where the setup cell clones the course on Colab.
COLAB_DIR = "/content/tlcourse"

#: What the setup cell gives ``%pip install`` on Colab: the course alone, no extras, so pip
#: adds only what Colab lacks and keeps Colab's own torch, ipywidgets and kernel packages
#: (tests/test_colab_install.py resolves exactly this against Colab's package list).
COLAB_INSTALL = f"-e {COLAB_DIR}"


def badge(notebook_name: str) -> str:
    """Markdown for the "Open in Colab" badge of ``notebooks/<notebook_name>``."""
    path = REPO_URL.removeprefix("https://github.com/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/"
            f"{notebook_name})")


def setup_cell() -> str:
    """The setup cell: installs the course on Colab (nothing elsewhere), then sets up."""
    return f'''# Setup: on Colab, fetch and install the course; elsewhere `make lab` already did.
import sys

if "google.colab" in sys.modules:
    !git clone -q --depth 1 {REPO_URL} {COLAB_DIR}
    %pip install -q {COLAB_INSTALL}
    sys.path.insert(0, "{COLAB_DIR}")  # the new install, without a restart
    %cd {COLAB_DIR}/notebooks

import tlcourse as tlc'''


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def sync(folder: str | Path = "notebooks", write: bool = True) -> list[str]:
    """Make every notebook's badge line and setup cell match this module.

    Returns the notebooks that differed (with ``write=False`` nothing is changed).
    """
    changed = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = json.loads(path.read_text())
        before = json.dumps(nb)
        for cell in nb["cells"]:
            text = _source(cell)
            if cell["cell_type"] == "markdown" and "colab-badge.svg" in text:
                lines = [badge(path.name) if "colab-badge.svg" in line else line
                         for line in text.split("\n")]
                cell["source"] = "\n".join(lines)
            elif cell["cell_type"] == "code" and text.startswith("# Setup: on Colab"):
                cell["source"] = setup_cell()
        if json.dumps(nb) != before:
            changed.append(path.name)
            if write:
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


if __name__ == "__main__":
    print("updated:", ", ".join(sync(sys.argv[1] if len(sys.argv) > 1 else "notebooks"))
          or "nothing")
