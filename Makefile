# The course's commands. Each creates .venv if it is missing and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q --disable-pip-version-check
JOBS   ?= 2    # test workers (pytest-xdist); each notebook runs whole in one worker
XDIST  := -n $(JOBS) --dist loadscope

.PHONY: course test lab lint bench sweep clean

course: $(VENV)/.installed-core    ## run every notebook, write runs/<timestamp>/report.*
	$(VENV)/bin/tlcourse run

test: $(VENV)/.installed-dev       ## lint, unit and notebook tests, outcomes under 2nd CPU kernels
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(XDIST) tests tlcourse
	$(PY) -m pytest $(XDIST) -p no:randomly --nbval-lax notebooks -q
	$(PY) -m benchmarks.kernels second -- $(PY) -m pytest $(XDIST) -q -m outcomes tests

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

$(VENV)/.installed-core: pyproject.toml | $(PY)
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) -e ".[dev]"
	touch $@ $(VENV)/.installed-core

$(VENV)/.installed-lab: pyproject.toml | $(PY)
	$(PIP) -e ".[lab]"
	touch $@ $(VENV)/.installed-core
