# depthlab: `make train` and `make test` set everything up on a fresh machine (Python 3.11, no internet needed
# beyond the package registry). ARGS="..." passes Hydra overrides, e.g. make train ARGS="model.encoder=resnet34".
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.depthlab-installed
# installed --no-deps on top of the tflite extra (pyproject.toml says why)
LITERT := litert-torch==0.10.0 litert-converter==0.5.0
ARGS ?=
PYTEST_ARGS ?=
# Some images set PYTHONDONTWRITEBYTECODE=1; with the --no-compile install below every process would then
# recompile torch from source (~15 s a start). The venv is ours: let Python cache bytecode on first import.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install browser train eval test test-fast lint format clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# --no-compile: byte-compiling all of torch costs ~1 CPU minute; Python caches what it imports on first use
	$(PY) -m pip install --disable-pip-version-check --no-compile -q -e ".[dev,tflite]"
	$(PY) -m pip install --disable-pip-version-check --no-compile -q --no-deps $(LITERT)
	@touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (tests/browser.py drives /usr/bin/chromium with Playwright: never
# `playwright install`, no browser download). apt-get update only when the cached package lists fail.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_CHROMIUM := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
browser:
	@test -x /usr/bin/chromium || $(SUDO) $(APT_CHROMIUM) || { $(SUDO) apt-get update -q && $(SUDO) $(APT_CHROMIUM); }

train: install
	$(PY) train.py $(ARGS)

eval: install
	$(PY) eval.py $(ARGS)

# Tests run in $(JOBS) pytest-xdist workers (one per core; each test keeps to one torch thread, tests/conftest.py).
JOBS ?= 2
XDIST := -n $(JOBS) --dist worksteal

test: install browser
	$(PY) -m pytest tests -q $(XDIST) $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest tests -q -m "not slow and not browser" $(XDIST) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests *.py

format: install
	$(VENV)/bin/ruff format src tests *.py

clean:
	rm -rf outputs multirun wandb .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
