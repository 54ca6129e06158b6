# Tanji: `make test` and `make demo` do all set-up on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup sysdeps test demo bench clean

sysdeps:
	@sh tools/sysdeps.sh

$(STAMP): pyproject.toml | sysdeps
	$(PYTHON) tools/check_python.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,test]'
	@touch $@

setup: sysdeps $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/python -m tools.demo

bench: setup
	$(BIN)/python bench/bench_codec.py
	$(BIN)/python bench/bench_server.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
