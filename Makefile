# `make demo` and `make test` work from a fresh clone with nothing but Python 3.11 installed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-slow test-all demo demo-families demo-online lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

# two pytest-xdist workers: the suite's many small runs keep both cores busy
TEST_WORKERS ?= 2

test: install
	WANDB_MODE=disabled $(BIN)/python -m pytest -n $(TEST_WORKERS)

test-slow: install
	WANDB_MODE=disabled $(BIN)/python -m pytest -m slow

test-all: install
	WANDB_MODE=disabled $(BIN)/python -m pytest -m "slow or not slow"

demo: install
	WANDB_MODE=offline $(BIN)/python -m stylaug.pipeline experiment=demo

demo-families: install
	WANDB_MODE=offline $(BIN)/python -m stylaug.pipeline experiment=demo_families

demo-online: install
	WANDB_MODE=offline $(BIN)/python -m stylaug.pipeline experiment=demo_online

bench: install
	WANDB_MODE=disabled $(BIN)/python scripts/bench.py

lint: install
	$(BIN)/ruff check stylaug tests scripts
	$(BIN)/ruff format --check stylaug tests scripts

format: install
	$(BIN)/ruff check --fix stylaug tests scripts
	$(BIN)/ruff format stylaug tests scripts

clean:
	rm -rf $(VENV) outputs multirun wandb lightning_logs .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
