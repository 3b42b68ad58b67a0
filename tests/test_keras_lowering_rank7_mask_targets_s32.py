"""A non-bool rank-7 attention mask over run-time sizes, lowered for the backends that can run it (session 32, h9).

Keras 3 MultiHeadAttention with ``attention_axes=(1, 2, 3)`` and a float ``attention_mask`` of rank 7: the lowering
refused it for webgl's rank limit whatever ``--target_backends`` said ("a non-bool attention_mask of rank 7 ... webgl's
comparisons stop at rank 6"), where ``--loader=tensorflow --target_backends=cpu`` converts it. The refusal now reads
the requested backends: for cpu (and cpu,wasm, where the backend contract finds nothing wasm cannot run) the model is
lowered, with TensorFlow, Keras and tf_keras poisoned, and matches Keras's ``model(x)`` in TF.js cpu and wasm at two
sizes within 1e-5 of the range; with webgl or webgpu among the targets it stays refused by name.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

POISONED_FOR_TARGETS = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None  # any import of them now fails
import tfjsconv
from tfjsconv.errors import UsageError
path, out, targets = sys.argv[1:]
try:
    print(tfjsconv.convert(path, out, output_format="tfjs_graph_model", target_backends=targets).details)
except UsageError as err:
    print("REFUSED:", " ".join(str(err).split()))
"""
LOWERED = "keras: lowered the model config to TF.js ops with h5py (no TensorFlow)"


def _rank_7_mask_attention() -> Any:
    """MHA over three attention axes of a ``[B, T0, T1, T2, F]`` query, a float mask ``[B, T0, T1, T2, S0, S1, S2]``."""
    query = keras.Input((None, None, None, 4), name="q")
    mask = keras.Input((None, None, None, None, None, None), name="m")
    out = keras.layers.MultiHeadAttention(2, 3, attention_axes=(1, 2, 3), name="mha")(query, query,
                                                                                       attention_mask=mask)
    return keras.Model([query, mask], out)


def _inputs(rng: np.random.Generator, batch: int, sizes: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """A query and a 0/1 float mask with a fully masked query position (Keras's softmax then spreads evenly)."""
    mask = (rng.uniform(size=(batch, *sizes, *sizes)) > 0.3).astype(np.float32)
    mask[0, 0, 0, 0] = 0.0
    return {"q": rng.standard_normal((batch, *sizes, 4)).astype(np.float32), "m": mask}


def _convert_poisoned(path: Path, out: Path, targets: str) -> str:
    """The poisoned conversion's last line: its details, or ``REFUSED: <message>``."""
    done = subprocess.run([sys.executable, "-c", POISONED_FOR_TARGETS, str(path), str(out), targets],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("rank7_mask") / "m.keras"
    model = _rank_7_mask_attention()
    model.save(path)
    return path, model


@pytest.mark.node
@pytest.mark.parametrize("targets", ["cpu", "cpu,wasm"])
def test_rank_7_float_mask_lowers_for_backends_without_webgl(saved, tmp_path, tfjs_runtime, targets):
    from tfjsconv.verify.run import run_model

    path, model = saved
    out = tmp_path / "out"
    details = _convert_poisoned(path, out, targets)
    assert LOWERED in details, details
    backends = ["cpu", "wasm"]  # wasm also for --target_backends=cpu: the contract finds nothing it cannot run
    rng = np.random.default_rng(7)
    for batch, sizes in ((2, (2, 2, 3)), (1, (3, 1, 2))):
        inputs = _inputs(rng, batch, sizes)
        want = np.asarray(model(inputs), np.float64)
        runs = run_model(str(out), inputs, backends=backends, quiet=True)
        for backend in backends:
            [got] = [np.asarray(v, np.float64) for v in runs.outputs(backend).values()]
            assert got.shape == want.shape, (backend, got.shape)
            error = np.abs(got - want).max()
            assert error <= 1e-5 * np.abs(want).max(), (targets, backend, sizes, error)


@pytest.mark.parametrize("targets,backend", [("cpu,wasm,webgl", "webgl"), ("cpu,webgpu", "webgpu")])
def test_rank_7_float_mask_stays_refused_by_name_for_rank_6_backends(saved, tmp_path, targets, backend):
    path, _ = saved
    details = _convert_poisoned(path, tmp_path / "out", targets)
    assert details.startswith("REFUSED:") and "'mha' (MultiHeadAttention): a non-bool attention_mask of rank 7" \
        in details and f"({backend}'s comparisons stop at rank 6)" in details, details
    assert not (tmp_path / "out").exists()
