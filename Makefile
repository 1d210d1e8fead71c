# Two commands on a fresh machine (Python 3.11 + pip + gcc):
#   make quickstart   install into .venv, then run demos -> BC -> eval -> fine-tuning on metaworld/pick-place
#   make test         install into .venv, then lint and run the test suite
# PyTorch: the CPU build (torch==2.13.0) by default. With a GPU, `make test TORCH_SPEC=torch`
# takes PyPI's default (CUDA) build instead, or install your own torch into .venv first and
# pass TORCH_SPEC= (empty) to keep it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
# The tests run in one pytest-xdist worker per core, torch on one thread in each (tests/conftest.py):
# on the 2-core CI machine 7.5 min against 11.7 in one process on two threads. PYTEST_WORKERS=0 runs
# them all in one process, as plain `pytest` does.
PYTEST_WORKERS ?= auto
BIN := $(VENV)/bin
STAMP := $(VENV)/.honing-installed

.PHONY: install quickstart test lint benchmark-bc clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(strip $(TORCH_SPEC)),$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)")
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

quickstart: install
	$(BIN)/honing quickstart --overwrite

lint: install
	$(BIN)/ruff check honing tests benchmarks
	$(BIN)/ruff format --check honing tests benchmarks

test: lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

benchmark-bc: install
	$(BIN)/python -m benchmarks.bc_metaworld

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
