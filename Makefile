# Two commands do all set-up on a fresh machine:
#   make demo  - build the virtual env, convert the bundled example, verify it in real TF.js
#   make test  - build the virtual env and run the test suite
# Both install what they need (pip into .venv, npm into the user cache, and for the tests Debian's
# chromium with apt when it is missing and we are root) on first use.

PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= test
# The suite runs on this many pytest-xdist workers, a test file each at a time (0: in one process).
TEST_WORKERS ?= 2

.PHONY: demo test venv browser conformance clean

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
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

# The three conformance tables (docs/conformance/*.md and bench/results/), against TF, Keras and
# ONNX's node tests, webgl included; about 15 minutes on the 2-core machine.
conformance: venv browser
	$(VENV)/bin/python bench/conformance/tf_ops.py --webgl
	$(VENV)/bin/python bench/conformance/keras_layers.py --webgl --record bench/results/keras_layers_conformance_run.json
	$(VENV)/bin/python bench/conformance/onnx_ops.py

clean:
	rm -rf $(VENV) build *.egg-info
