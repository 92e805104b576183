# Two commands do all set-up (see README.md):
#   make app    create .venv, install torch 2.13.0 (CPU wheel) + chemaccel[gui], start the desktop app
#               (or, with no display, say so and run the headless demo `chemaccel demo`)
#   make test   the same plus the test extra and the Debian packages Qt needs, then run the tests
# Both are idempotent: a second run only re-installs when pyproject.toml, setup.py or constraints.txt changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: app test demo setup setup-test system-deps clean

app: $(VENV)/.stamp-app
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  exec $(BIN)/chemaccel-gui; \
	else \
	  echo "No display found (DISPLAY is unset): running the headless demo 'chemaccel demo' instead of the desktop app."; \
	  $(BIN)/chemaccel demo; \
	fi

demo: $(VENV)/.stamp-app
	$(BIN)/chemaccel demo

test: $(VENV)/.stamp-test system-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

setup: $(VENV)/.stamp-app
setup-test: $(VENV)/.stamp-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-torch: $(BIN)/python constraints.txt
	$(PIP) install -c constraints.txt torch==2.13.0
	@touch $@

$(VENV)/.stamp-app: $(VENV)/.stamp-torch pyproject.toml setup.py constraints.txt
	$(PIP) install -c constraints.txt -e ".[gui]"
	@touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-app
	$(PIP) install -c constraints.txt -e ".[test]"
	@touch $@

system-deps:
	@sh scripts/install_system_deps.sh

clean:
	rm -rf $(VENV) build *.egg-info
