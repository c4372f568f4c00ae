# chat-lab: every target sets up what it needs on a fresh machine that has
# only Python 3, make and apt.  `make demo` and `make test` are the two
# commands README opens with.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: help demo test test-fast test-under-load sysdeps venv notebooks lessons bench exercises check-exercises release clean

help:
	@echo "make demo       run the scripted chat, captured and explained (sets everything up)"
	@echo "make test       run the whole test suite (sets everything up)"
	@echo "make test-under-load  the suite 5 times with 2 busy processes beside it (RUNS=, BUSY=)"
	@echo "make notebooks  open JupyterLab on the kit's environment"
	@echo "make lessons    regenerate notebooks/ from tools/lessons/ (stored without outputs)"
	@echo "make bench      run the benchmarks and rewrite docs/PERFORMANCE.md"
	@echo "make exercises  regenerate exercises/ from solutions/ (check-exercises: only check they agree)"
	@echo "make clean      remove the virtual environment and caches"

# The virtual environment, with the project and its dev extras.  Debian's
# python3 ships venv separately (python3-venv); install it when we can.
$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c "import ensurepip" 2>/dev/null || \
	  bash .ci/sysdeps.sh python3-venv
	# --copies: .venv/bin/python is the kit's own file, so `setcap` on it
	# (to capture without sudo) does not reach the system's Python.
	$(PYTHON) -m venv --copies $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name chatlab --display-name "chat-lab" >/dev/null
	@touch $(STAMP)

venv: $(STAMP)

# System tools for capture and the emulated network (libpcap, tcpdump,
# tshark, nftables, iproute2).  Installed with apt when we are root; on a
# laptop without root this only says what is missing.
sysdeps:
	@bash .ci/sysdeps.sh

demo: $(STAMP) sysdeps
	$(VENV)/bin/chatlab demo

test: $(STAMP) sysdeps
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite RUNS times in a row with BUSY busy processes beside it: how a new
# test is checked for flakiness before it is called done (README, "Tests").
RUNS ?= 5
BUSY ?= 2
test-under-load: $(STAMP) sysdeps
	PY=$(PY) bash tools/test_under_load.sh $(RUNS) $(BUSY)

# The quick loop while developing: no capture, namespaces or notebooks.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not privileged and not slow" $(PYTEST_ARGS)

notebooks: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,notebooks]'
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) bench/run.py

exercises: $(STAMP)
	$(PY) tools/make_exercises.py

lessons: $(STAMP)
	$(PY) tools/make_notebooks.py

check-exercises: $(STAMP)
	$(PY) tools/make_exercises.py --check

release: $(STAMP)
	$(VENV)/bin/chatlab release

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
