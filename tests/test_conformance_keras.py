"""Keras layer conformance (issue 13): converted layers and graph models against Keras, in real TF.js.

A subset of ``bench/conformance/cases_keras.py`` — every layer at least once (its listed mismatch when it
has one), Keras 3, plus the tf_keras and Keras 3 ``.h5`` cases that behave differently — runs as a layers and a graph model on
TF.js cpu and wasm; any status other than the one ``bench/conformance/expected_keras.py`` records (pass when
unlisted) fails. The full run is ``python bench/conformance/keras_layers.py`` (it writes
``docs/conformance/keras_layers.md``).
"""
from __future__ import annotations

import inspect
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench" / "conformance"))

from cases_keras import CASES, FLAVORS, NOT_COVERED  # noqa: E402
from expected_keras import COLUMNS, KNOWN, unexpected  # noqa: E402

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
STATUSES = ("wrong", "error", "refused", "refused → graph")


def subset() -> list[tuple]:
    """One Keras 3 case per layer (a listed non-pass one first: wrong, then error, then refused) plus the
    tf_keras cases whose outcome differs from Keras 3's, or that only tf_keras has, and the Keras 3 ``.h5``
    cases whose outcome differs from Keras 3's ``.keras`` (Keras cannot save them as .h5 excepted)."""
    rank = {"wrong": 0, "error": 1, "refused": 2, "refused → graph": 2}

    def score(key: str) -> int:
        entry = KNOWN.get(key, {})
        return min((rank[v] for c, v in entry.items() if c in COLUMNS), default=3)

    chosen: dict[str, object] = {}
    for case in CASES:
        current = chosen.get(case.layer)
        if current is None or score(f"keras3:{case.key}") < score(f"keras3:{current.key}"):
            chosen[case.layer] = case
    items = [(case, "keras3") for case in CASES if chosen.get(case.layer) is case]
    tf_keras_only = {c.key for c in CASES if c.build(keras) is None}
    for case in CASES:
        k3 = {c: v for c, v in KNOWN.get(f"keras3:{case.key}", {}).items() if c in COLUMNS}
        tk = {c: v for c, v in KNOWN.get(f"tf_keras:{case.key}", {}).items() if c in COLUMNS}
        if (k3 != tk and any(v in ("wrong", "error") for v in tk.values())) or case.key in tf_keras_only:
            items.append((case, "tf_keras"))
    for case in CASES:
        entry = KNOWN.get(f"keras3_h5:{case.key}", {})
        if entry != KNOWN.get(f"keras3:{case.key}", {}) and "build" not in entry:
            items.append((case, "keras3_h5"))
    return items


def test_known_outcomes_name_real_cases_with_reasons():
    keys = {case.key for case in CASES}
    assert len(keys) == len(CASES), "case keys (Layer/option) must be unique"
    for key, entry in KNOWN.items():
        flavor, _, case_key = key.partition(":")
        assert flavor in FLAVORS and case_key in keys, f"expected_keras.py lists {key}, which is no case"
        assert len(entry.get("why", "")) > 12, (key, entry)
        for column, status in entry.items():
            assert column in (*COLUMNS, "why", "build"), (key, column)
            assert column in ("why", "build") or status in STATUSES, (key, column, status)


def test_every_builtin_keras3_layer_has_a_case_or_a_reason():
    """Aliases (``Convolution2D``, ``MaxPool2D``) count as covered when their class has a case."""
    covered = {case.layer for case in CASES}
    covered_classes = {getattr(keras.layers, name) for name in covered if hasattr(keras.layers, name)}
    missing = sorted(name for name, obj in vars(keras.layers).items()
                     if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and name not in covered
                     and name not in NOT_COVERED and obj not in covered_classes)
    assert not missing, missing


@pytest.mark.node
@needs_node
def test_keras_layers_in_tfjs_keep_the_statuses_of_the_table(tfjs_runtime):
    from keras_layers import COLUMNS as RUN_COLUMNS
    from keras_layers import run_items

    items = subset()
    assert {case.layer for case, _ in items} == {case.layer for case in CASES}
    results = run_items(items)
    assert not [r.key for r in results if r.build_error]
    assert sum(r.status("graph-cpu") == "pass" for r in results) > 0.8 * len(results)
    changed = [f"{r.key} [{c}] {why}: {r.cells.get(c, '')}" for r in results for c in RUN_COLUMNS
               if (why := unexpected(r.key, c, r.status(c)))]
    assert not changed, "\n".join(changed)


@pytest.mark.node
@needs_node
def test_webgl_column_runs_every_model_in_one_chromium_page(tfjs_runtime):
    """``--webgl``: a few cases (ZeroPadding3D and Conv3DTranspose pad at rank 5/6, which webgl's pad shader
    cannot compile: ``pad_rank`` lowers them) keep their statuses on every column, webgl included."""
    import os

    from keras_layers import WEBGL_BACKENDS, columns_for, run_items
    from webgl_runner import webgl_available

    why = webgl_available()
    if why:
        if os.environ.get("TFJSCONV_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{why}; TFJSCONV_REQUIRE_BROWSER=1 requires Chromium")
        pytest.skip(f"{why}; the webgl column needs Chromium")
    wanted = ("ZeroPadding3D/1", "Conv3DTranspose/same_s2", "Dense/relu")
    facts: dict = {}
    results = run_items([(case, "keras3") for case in CASES if case.key in wanted], backends=WEBGL_BACKENDS,
                        facts=facts)
    assert len(results) == len(wanted) and facts.get("render_float32") is True, facts
    assert all(r.status(c) == "pass" for r in results for c in ("graph-webgl", "layers-webgl")
               if not r.cells.get(c, "").startswith("refused")), [r.cells for r in results]
    changed = [f"{r.key} [{c}] {why}: {r.cells.get(c, '')}" for r in results for c in columns_for(WEBGL_BACKENDS)
               if (why := unexpected(r.key, c, r.status(c)))]
    assert not changed, "\n".join(changed)
