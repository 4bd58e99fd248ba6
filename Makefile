# The course's commands. Each creates .venv if it is missing and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check
JOBS   ?= 2    # test workers (pytest-xdist); each notebook runs whole in one worker
XDIST  := -n $(JOBS) --dist loadscope

.PHONY: course test rehearse lab lint bench sweep clean chromium

course: $(VENV)/.installed-core    ## run every notebook, write runs/<timestamp>/report.*
	$(VENV)/bin/tlcourse run

# The browser test runs alone, after nbval: JupyterLab, its kernel and Chromium get both cores.
# The full-profile rehearsal is too long for this budget on 2 cores: `make rehearse` runs it.
test: $(VENV)/.installed-dev $(VENV)/.installed-browser chromium  ## lint, unit, notebook and browser tests, outcomes under 2nd CPU kernels
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(XDIST) --durations=15 -m "not browser and not rehearsal" tests tlcourse
	$(PY) -m pytest $(XDIST) --durations=15 -p no:randomly --nbval-lax notebooks -q
	$(PY) -m pytest -q -m browser tests
	$(PY) -m benchmarks.kernels second -- $(PY) -m pytest $(XDIST) -q -m outcomes tests

# Every notebook with PROFILE = "full" on the CPU, on stand-in files in a temporary cache
# (tests/test_rehearsal.py, TLCOURSE_REHEARSAL=1): claims recorded, not enforced.
rehearse: $(VENV)/.installed-dev  ## the full profile rehearsed on stand-in files (minutes)
	$(PY) -m pytest -p no:randomly -q -m rehearsal tests/test_rehearsal.py

lab: $(VENV)/.installed-lab        ## JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks

bench: $(VENV)/.installed-core     ## speed measurements -> benchmarks/RESULTS.md (not tests)
	$(PY) -m benchmarks.run_all

sweep: $(VENV)/.installed-core     ## claims under 3 seeds x 2 CPU kernel sets -> benchmarks/CLAIMS.md
	$(PY) -m benchmarks.sweep

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# "core" is what the course's commands need: the package plus the tools that run notebooks
# headless (the `course` extra: papermill). Colab's setup cell installs the package alone.
$(VENV)/.installed-core: pyproject.toml | $(PY)
	$(PIP) -e ".[course]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) -e ".[course,dev]"
	touch $@ $(VENV)/.installed-core

$(VENV)/.installed-lab: pyproject.toml | $(PY)
	$(PIP) -e ".[course,lab]"
	touch $@ $(VENV)/.installed-core

# JupyterLab and Playwright for tests/test_browser.py (Playwright drives Debian's chromium;
# it downloads no browser of its own).
$(VENV)/.installed-browser: pyproject.toml | $(PY)
	$(PIP) -e ".[course,lab,browser]"
	touch $@ $(VENV)/.installed-lab $(VENV)/.installed-core

# Debian's chromium for the browser test, installed where it is missing and we are root with
# apt-get (as in CI); elsewhere the test skips and says how to install it.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "warning: could not install chromium; the browser test will skip"; \
	else echo "note: no /usr/bin/chromium (apt-get install -y chromium, as root); the browser test will skip"; fi
