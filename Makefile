# Two commands do all set-up on a fresh machine:
#   make demo  - build the virtual env, convert the bundled example, verify it in real TF.js
#   make test  - build the virtual env and run the test suite
# Both install what they need (pip into .venv, npm into the user cache, and for the tests Debian's
# chromium with apt when it is missing and we are root) on first use.

PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= test

.PHONY: demo test venv browser clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed-$(EXTRAS)

demo: venv
	$(VENV)/bin/python examples/demo.py

browser:
	@scripts/install_chromium.sh

test: venv browser
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
