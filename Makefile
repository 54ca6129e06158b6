# Tanji: `make test` and `make demo` do all set-up on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup sysdeps native test soak demo bench clean

sysdeps:
	@sh tools/sysdeps.sh

$(STAMP): pyproject.toml | sysdeps
	$(PYTHON) tools/check_python.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,gateway,test]'
	@touch $@

native: $(STAMP)
	@sh tools/build_native.sh

setup: sysdeps $(STAMP) native

# two workers, a test file each at a time (a file's fixtures stay in one process): most tests wait on
# processes they started, so two run in about half the time on two cores
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# the power-cut test with 10,000 kills instead of 200 (about an hour)
soak: setup
	TANJI_POWERCUT_KILLS=10000 $(BIN)/python -m pytest -q tests/test_gateway_powercut.py

demo: setup
	$(BIN)/python -m tools.demo

bench: setup
	$(BIN)/python bench/bench_codec.py
	$(BIN)/python bench/bench_server.py
	$(BIN)/python bench/bench_ingest_attack.py
	$(BIN)/python bench/bench_verifier_reload.py
	$(BIN)/python bench/bench_gateway.py
	$(BIN)/python bench/bench_dlt645_bus.py
	$(BIN)/python bench/bench_accounting.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info shared/codec/native/*.so
