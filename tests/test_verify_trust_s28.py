"""`tfjsconv verify SOURCE MODEL_DIR` trusted too much or could not check (session 28, helper h2; found by h9 in 27).

- An output whose whole reference lies below ``atol`` passed whatever TF.js gave: float64 values of ~1e-10 that TF.js
  (float32) computes as 0 everywhere were a PASS. The magnitude rule fails them; outputs that are ~0 at the
  reference's own precision (a difference of equal values, sin(k pi)) still pass.
- A model converted with ``--target_backends=cpu`` (an op wasm lacks) was run on wasm anyway and reported CRASH: the
  conversion now records its targets in model.json and verify runs those; ``--backend`` overrides, with a notice.
- A SavedModel converted with ``--signature_name=other`` could not be checked when the model records no signature
  (another converter) and the mismatch message named the sides the wrong way round: ``--signature_name`` in verify.

References are TensorFlow's (the SavedModel run by the frontend); the models run in real TF.js (cpu, wasm).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfjsconv.cli import main  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402
from tfjsconv.verify.source_check import verify_against_source  # noqa: E402

pytestmark = pytest.mark.node

S = tf.TensorSpec


class NearZero(tf.Module):
    """float64 values far below atol that float32 cannot hold (``tiny``), next to outputs that are ~0 on both
    sides: a difference of equal values and sin(k pi) in float64 and float32 (rounding noise of pi)."""

    @tf.function(input_signature=[S([4], tf.float64, name="x"), S([4], tf.float32, name="k")])
    def __call__(self, x, k):
        k64 = tf.cast(k, tf.float64)
        return {"tiny": (x + x * 1e-12) - x, "zero": x * 3.0 - x * 3.0,
                "sin64": tf.sin(k64 * np.pi), "sin32": tf.sin(k * np.float32(np.pi))}


class TwoSignatures(tf.Module):
    """serving_default: a regex replace (StaticRegexReplace: cpu and webgl have the kernel, wasm not);
    other: a float product, taking another input name."""

    @tf.function(input_signature=[S([3], tf.string, name="x")])
    def __call__(self, x):
        return {"y": tf.strings.regex_replace(x, "a+", "b")}

    @tf.function(input_signature=[S([None, 3], tf.float32, name="z")])
    def other(self, z):
        return {"w": z * 2.0}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _rows(stdout: str, name: str) -> list[tuple[str, str]]:
    """(backend, result) of the report table's rows for output ``name``."""
    rows = (line.split() for line in stdout.splitlines())
    return [(r[1], r[-1]) for r in rows if len(r) > 2 and r[0] == name and r[1] in ("cpu", "wasm", "webgl")]


@pytest.fixture(scope="module")
def near_zero(tmp_path_factory):
    folder = tmp_path_factory.mktemp("near zero")
    tf.saved_model.save(NearZero(), str(folder / "saved"))
    np.savez(folder / "in.npz", x=np.array([1.0, 100.0, 500.0, -3.0]), k=np.float32([1, 2, 3, 4]))
    assert main(["convert", str(folder / "saved"), str(folder / "web"), "--quiet"]) == 0
    return folder


@pytest.fixture(scope="module")
def two_signatures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two signatures")
    module = TwoSignatures()
    tf.saved_model.save(module, str(folder / "saved"), signatures={"serving_default": module.__call__,
                                                                  "other": module.other})
    saved = str(folder / "saved")
    assert main(["convert", saved, str(folder / "cpu"), "--target_backends=cpu", "--quiet"]) == 0
    assert main(["convert", saved, str(folder / "other"), "--signature_name=other", "--quiet"]) == 0
    np.savez(folder / "x.npz", x=np.ones((2, 3), np.float32))  # keyed by serving_default's name, not other's
    return folder


# -- 1. an output wholly below atol ------------------------------------------------------------------------------
def test_float64_values_below_atol_computed_as_zero_fail(near_zero, capsys, tfjs_runtime):
    code, out, err = _cli(capsys, "verify", str(near_zero / "saved"), str(near_zero / "web"),
                          "--inputs", str(near_zero / "in.npz"))
    assert code == 3, err
    assert _rows(out, "tiny") == [("cpu", "FAIL"), ("wasm", "FAIL")]
    assert "the reference is not ~0" in out and "misses it by its own magnitude" in out
    for name in ("zero", "sin64", "sin32"):  # ~0 at the reference's own precision: not judged by magnitude
        assert _rows(out, name) == [("cpu", "PASS"), ("wasm", "PASS")], out


def test_the_magnitude_rule_in_json(near_zero, capsys, tfjs_runtime):
    code, out, _ = _cli(capsys, "verify", str(near_zero / "saved"), str(near_zero / "web"),
                        "--inputs", str(near_zero / "in.npz"), "--json", "--backend", "cpu")
    doc = json.loads(out)
    assert code == 3 and doc["status"] == "FAIL"
    by_name = {c["name"]: c for c in doc["comparisons"]}
    tiny = by_name["tiny"]
    assert tiny["mag_mismatches"] >= 1 and tiny["max_abs_err"] == pytest.approx(5e-10, rel=1e-3)
    assert tiny["zero_floor_abs"] == pytest.approx(1e-6 * 2.0 ** -29)  # atol at float64's precision
    assert by_name["sin32"]["zero_floor_abs"] == pytest.approx(1e-6)  # a float32 reference: atol itself
    assert "magnitude" in doc["tolerance_rule"] or "max(0.5, rtol)" in doc["tolerance_rule"]


# -- 2. the model's target backends --------------------------------------------------------------------------------
def test_the_conversion_records_narrowed_targets_only(two_signatures):
    cpu = json.loads((two_signatures / "cpu" / "model.json").read_text())
    assert cpu["userDefinedMetadata"]["targetBackends"] == ["cpu"]
    default = json.loads((two_signatures / "other" / "model.json").read_text())
    assert "targetBackends" not in default["userDefinedMetadata"]  # the default targets: model.json as before


def test_verify_runs_the_backends_the_model_was_converted_for(two_signatures, capsys, tfjs_runtime):
    code, out, err = _cli(capsys, "verify", str(two_signatures / "saved"), str(two_signatures / "cpu"))
    assert code == 0, out + err
    assert _rows(out, "y") == [("cpu", "PASS")]
    assert "note:" not in err


def test_an_explicit_backend_overrides_the_targets_with_a_notice(two_signatures, capsys, tfjs_runtime):
    code, out, err = _cli(capsys, "verify", str(two_signatures / "saved"), str(two_signatures / "cpu"),
                          "--backend", "all")
    assert code == 3
    assert _rows(out, "y") == [("cpu", "PASS"), ("wasm", "CRASH")]
    assert "converted for --target_backends=cpu, not for wasm; running it as asked" in err


def test_the_python_api_runs_the_targets_too(two_signatures, tfjs_runtime):
    report = verify_against_source(two_signatures / "saved", two_signatures / "cpu", quiet=True)
    assert report.status == "PASS" and report.backends == ["cpu"]


def test_the_python_api_names_the_remedy_for_a_webgl_only_model(two_signatures, tmp_path):
    """A model converted for webgl alone: the API said "FAIL: nothing was compared" (review R1 M3 of session 28)."""
    webgl = tmp_path / "webgl"
    assert main(["convert", str(two_signatures / "saved"), str(webgl), "--target_backends=webgl", "--quiet"]) == 0
    with pytest.raises(UsageError) as caught:
        verify_against_source(two_signatures / "saved", webgl, quiet=True)
    assert "none of which verify runs in Node" in caught.value.message
    assert "backends=['webgl']" in caught.value.hint


# -- 3. the signature ------------------------------------------------------------------------------------------------
def test_signature_name_checks_a_model_that_records_none(two_signatures, tmp_path, capsys, tfjs_runtime):
    """A model from a converter that records no signature (the official one): verify needs to be told."""
    web = tmp_path / "unrecorded"
    shutil.copytree(two_signatures / "other", web)
    doc = json.loads((web / "model.json").read_text())
    del doc["userDefinedMetadata"]["signatureName"]
    (web / "model.json").write_text(json.dumps(doc))
    saved = str(two_signatures / "saved")
    code, _, err = _cli(capsys, "verify", saved, str(web))
    assert code == 2
    assert "the source's signature" not in err and "the source takes x, the TF.js model takes z" in err
    assert "--signature_name" in err
    code, out, err = _cli(capsys, "verify", saved, str(web), "--signature_name", "other")
    assert code == 0, out + err
    assert _rows(out, "w") == [("cpu", "PASS"), ("wasm", "PASS")]


def test_the_inputs_message_names_each_side_right(two_signatures, capsys):
    saved, web = str(two_signatures / "saved"), str(two_signatures / "other")
    code, _, err = _cli(capsys, "verify", saved, web, "--inputs", str(two_signatures / "x.npz"))
    assert code == 2
    assert f"the inputs fed (x) lack z, which both {saved} and {web} take" in err
    code, _, err = _cli(capsys, "verify", saved, web, "--signature_name", "serving_default")
    assert code == 2
    assert "records it was converted from signature 'other'; running SOURCE's 'serving_default' as asked" in err
    assert "the source's signature 'serving_default' takes x, the TF.js model takes z" in err


def test_signature_name_needs_a_source(two_signatures, capsys):
    code, _, err = _cli(capsys, "verify", str(two_signatures / "other"), "--inputs", str(two_signatures / "x.npz"),
                        "--expected", str(two_signatures / "x.npz"), "--signature_name", "other")
    assert code == 2 and "no SOURCE" in err


def test_float32_results_widened_to_float64_keep_float32s_zero_floor():
    """R1 N1: float32 sin(k pi) cast to float64 (a final cast, an --expected file saved as float64) is float32
    noise: TF.js wasm's [-1.51e-7, 4.77e-8, -1.51e-7] against TF's float32 values passes, as the float32 output does;
    a reference float32 cannot hold keeps float64's floor and fails, and so does one TF.js gives as 0."""
    from tfjsconv.verify.compare import compare

    tf_values = np.array([-2.3849761e-08, 4.7699523e-08, -7.1549286e-08], np.float32)
    wasm = np.array([-1.5099580e-07, 4.7699523e-08, -1.5099580e-07], np.float32)
    for ref in (tf_values, tf_values.astype(np.float64)):
        [result] = compare({"y": wasm}, {"y": ref})
        assert result.passed, (ref.dtype, result.problem)
    [result] = compare({"y": np.float32([1e-7, 0, 0])}, {"y": np.array([1e-10, 0.0, -3e-10])})
    assert not result.passed and result.mag_mismatches == 2, result.problem
    [result] = compare({"y": np.float32([0, 1e-7, 0])}, {"y": np.array([2.0 ** -40, 0.0, -(2.0 ** -41)])})
    assert not result.passed and result.mag_mismatches == 2, result.problem
