# The two commands a newcomer needs: `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# No machine here reaches the internet, and no candidate data may leave it: telemetry off.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test venv model lint validate stories nlu-report bench lock clean widget chromium redis

$(STAMP): requirements/lock.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# --no-deps: the lock is complete; rasa declares <3.11, hence --ignore-requires-python (see README).
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python scripts/pip_check.py
	@touch $(STAMP)

venv: $(STAMP)

# rasa train compares a fingerprint of data, domain and config with the newest model and
# skips training when nothing changed.
model: $(STAMP)
	$(BIN)/rasa train --quiet --fixed-model-name candidate-assistant --out models

run: model
	$(BIN)/python -m bot run

lint: $(STAMP)
	$(BIN)/ruff check bot actions channels policies tests bench scripts

validate: $(STAMP)
	$(BIN)/rasa data validate --fail-on-warnings

stories: model
	$(BIN)/rasa test core --stories tests/stories --model models/candidate-assistant.tar.gz \
		--fail-on-prediction-errors --out var/results/stories

# Browser tests drive Debian's chromium (installed here when missing; needs root or sudo).
chromium:
	@command -v chromium >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# Debian's redis-server, which the scale-out tests start themselves (two Rasa replicas sharing it).
redis:
	@command -v redis-server >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server; }

# The built widget is committed; rebuild it after changing widget/src.
widget:
	cd widget && npm ci --no-audit --no-fund && npm run build

test: model chromium redis
	$(MAKE) lint validate
	$(BIN)/python -m pytest
	$(MAKE) stories

nlu-report: $(STAMP)
	$(BIN)/rasa test nlu --cross-validation --folds 5 --out var/results/nlu

bench: model
	$(BIN)/python bench/sms_status.py
	$(BIN)/python bench/booking.py
	$(BIN)/python bench/handoff.py
	$(BIN)/python bench/web_chat.py
	$(BIN)/python bench/status_updates.py
	$(BIN)/python bench/security_overhead.py

# Load generator (bench/load): simulated candidates over signed SMS and the web widget, a modest run by default.
# More: make load LOAD_ARGS="--candidates 2000 --replicas 2 --kill-after 60" (two replicas on Redis, one stopped).
.PHONY: load
load: model redis
	$(BIN)/python -m bench.load --candidates 300 --concurrency 50 $(LOAD_ARGS)

lock:
	$(PYTHON) scripts/lock.py

clean:
	rm -rf var models .pytest_cache
