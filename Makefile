# TorchStudio developer commands. `make test` sets everything up by itself.
PYTHON ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-quick soak bench lint format run system-packages clean wheel-check

venv: $(STAMP)

$(STAMP): pyproject.toml constraints-dev.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -c constraints-dev.txt -e '.[dev]'
	touch $(STAMP)

system-packages:
	bash scripts/install-system-packages.sh

# What CI runs: the whole suite in two processes, then branch coverage of src/.
test: venv system-packages
	bash scripts/run-tests.sh full

# The wheel installed into a fresh virtual environment: --version, new --demo, one epoch.
wheel-check:
	bash scripts/check-wheel.sh

# Unit, worker and service tests only (no browser, no sshd, no kills): a few minutes.
test-quick: venv
	bash scripts/run-tests.sh quick

# The long versions of the load and kill tests (20 kills, the ten-minute load); not in CI.
soak: venv system-packages
	bash scripts/run-tests.sh soak

bench: venv
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(VPY) $$f || exit 1; done

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: venv
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

# The demo project (Digits + MNISTClassifier) lives in build/, made once, kept between runs.
DEMO := build/demo.tsproj

run: venv
	mkdir -p build
	test -f $(DEMO) || $(VENV)/bin/torchstudio new --demo $(DEMO)
	$(VENV)/bin/torchstudio $(DEMO)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
