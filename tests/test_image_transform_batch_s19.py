"""``ImageProjectiveTransformV3`` over more than one image: TF.js 4.22's cpu ``Transform`` answers the first image only.

Found by session 19's keras.ops probe (helper H2): Keras 3's ``ops.image.affine_transform`` traced by
``--loader=tensorflow`` gave 0 for every pixel of batch element 1 on cpu. tfjs-backend-cpu's kernel returns from
inside its loop over the batch, after the first image, so every later image is the fill value, whatever the
transforms' shape (one shared ``[1, 8]`` row or one per image); wasm and webgl (bilinear) are right. The contract's
probe limit ``batch:0`` (input 0's first size: ``true`` when not 1, ``maybe`` when unknown) refuses it on cpu; the
probe's earlier cases held one image, so it passed the check.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402

pytestmark = pytest.mark.node
#: Two different transforms (the second projective), as Keras's ``affine_transform`` of a batch passes them.
TRANSFORMS = np.float32([[1.1, 0.1, -0.5, 0.05, 0.9, 0.3, 0.0, 0.0], [0.8, -0.2, 1.0, 0.1, 1.2, -0.4, 0.01, 0.02]])
IMAGES = np.random.default_rng(19).uniform(1, 10, (2, 5, 6, 2)).astype(np.float32)
FILL = -1.0


def _builder(batch: int | None, transforms: np.ndarray, interpolation: str = "BILINEAR"):
    def build(tf) -> None:
        images = tf.compat.v1.placeholder(tf.float32, (batch, 5, 6, 2), name="images")
        tf.raw_ops.ImageProjectiveTransformV3(images=images, transforms=tf.constant(transforms),
                                              output_shape=tf.constant([5, 6]), fill_value=tf.constant(FILL),
                                              interpolation=interpolation, fill_mode="CONSTANT", name="y")
    return build


def _graph(path, batch: int | None, transforms: np.ndarray, images: np.ndarray = IMAGES):
    """The one-op GraphDef and TF's output for ``images``."""
    source, expected = raw_ops_graph(path, _builder(batch, transforms), {"images": images}, ["y"])
    return source, expected["y"]


@pytest.mark.parametrize("batch, transforms", [(None, TRANSFORMS), (2, TRANSFORMS), (None, TRANSFORMS[:1])],
                         ids=["unknown_batch", "batch_2", "shared_transform"])
def test_more_than_one_image_is_refused_on_cpu(tmp_path, batch, transforms):
    """An unknown batch may be more than one image when the model runs ("maybe"); wasm and webgl are not named."""
    source, _ = _graph(tmp_path / "m.pb", batch, transforms)
    with pytest.raises(BackendUnsupportedError) as caught:
        tfjsconv.convert(source, tmp_path / "out", output_node_names=["y"])
    problems = caught.value.problems
    assert {(p.op, p.node, p.backend) for p in problems} == {("ImageProjectiveTransformV3", "y", "cpu")}, problems
    assert f"batch:0={'maybe' if batch is None else 'true'} gives a wrong answer" in problems[0].reason, problems


def test_the_cli_refuses_it_with_exit_2(tmp_path):
    source, _ = _graph(tmp_path / "m.pb", None, TRANSFORMS)
    run = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(source), str(tmp_path / "out"),
                          "--output_node_names=y"], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert "ImageProjectiveTransformV3 on cpu" in run.stderr and "batch:0=maybe" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()


def test_wasm_and_webgl_run_it_as_tf(tmp_path, browser):
    from tfjsconv.serve.browser import run_backends_in_browser
    from tfjsconv.verify.run import run_model

    source, expected = _graph(tmp_path / "m.pb", None, TRANSFORMS)
    assert (expected[1] != FILL).any()  # the second image is transformed, not filled
    tfjsconv.convert(source, tmp_path / "out", output_node_names=["y"], target_backends=["wasm", "webgl"])
    runs = dict(run_model(tmp_path / "out", {"images": IMAGES}, backends=["wasm"], quiet=True).backends)
    runs.update(run_backends_in_browser(tmp_path / "out", {"images": IMAGES}, backends=["webgl"], session=browser,
                                        flags={"WEBGL_CPU_FORWARD": False})[0])
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        got = np.asarray(run.outputs["y"]).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4, err_msg=backend)


def test_one_image_still_converts_for_cpu(tmp_path):
    from tfjsconv.verify.run import run_model

    source, expected = _graph(tmp_path / "m.pb", 1, TRANSFORMS[1:], IMAGES[1:])
    tfjsconv.convert(source, tmp_path / "out", output_node_names=["y"])  # every default target
    for backend, run in run_model(tmp_path / "out", {"images": IMAGES[1:]}, backends=["cpu", "wasm"],
                                  quiet=True).backends.items():
        assert run.ok, (backend, run.error)
        np.testing.assert_allclose(np.asarray(run.outputs["y"]), expected, rtol=1e-5, atol=1e-4, err_msg=backend)


def test_cpu_fills_every_image_after_the_first(tmp_path):
    """What the limit stands for (fails if a TF.js update fixes the kernel): image 0 right, image 1 all fill value."""
    from tfjsconv.verify.run import run_model

    source, expected = _graph(tmp_path / "m.pb", None, TRANSFORMS[:1])
    tfjsconv.convert(source, tmp_path / "out", output_node_names=["y"], skip_op_check=True)
    run = run_model(tmp_path / "out", {"images": IMAGES}, backends=["cpu"], quiet=True).backends["cpu"]
    assert run.ok, run.error
    got = np.asarray(run.outputs["y"])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-4)
    assert (got[1] == FILL).all() and not np.allclose(expected[1], FILL), got[1]
