# ge4rec: `make run` trains the default combination on the built-in data set,
# `make test` runs the test suite. Both install into .venv first, with the joblib and submitit
# launchers for parallel and cluster sweeps (pip install -e ".[optuna]" adds the Optuna sweeper).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, pinned, so that pip never swaps it for another build. On a CPU-only
# machine with a local CPU wheel this takes that wheel; on a CUDA machine PyPI's default Linux
# wheel is the CUDA build. Pick another build with e.g.
#   make install TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu126"
# An environment that already imports torch keeps it. TORCH_VERSION is a release of the torch
# floor in pyproject.toml (tests/test_packaging.py checks that they agree).
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
ARGS ?=

.PHONY: install run test lint reproduce clean

install: $(VENV)/.installed

# The other dependencies are held to their floors' release lines (scripts/floors.py), so the
# tests run on the versions that pyproject.toml declares as the oldest supported.
$(VENV)/.installed: pyproject.toml scripts/floors.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(BIN)/python scripts/floors.py > $(VENV)/floors.txt
	$(BIN)/pip install --quiet --constraint $(VENV)/floors.txt -e ".[dev,joblib,slurm]"
	touch $@

run: install
	$(BIN)/ge4rec train $(ARGS)

test: install
	$(BIN)/python -m pytest tests $(ARGS)

# the SFG paper's tables on the data sets that need no download (docs/results/paper_small.md)
reproduce: install
	$(BIN)/ge4rec reproduce small $(ARGS)

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) outputs multirun results runs .pytest_cache
