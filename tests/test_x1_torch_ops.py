"""Torch ops the model zoo (``bench/torch_model_zoo.py``) found converted wrongly or refused, run in real TF.js.

Each module is converted from memory (dynamo export, dynamic batch) and run on cpu and wasm at two batch
sizes; torch eager is the reference.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

import tfjsconv  # noqa: E402

RTOL = 1e-5


def matches_torch(module, make, out: Path, batches=(2, 3)) -> dict:
    """Convert ``module`` (traced on ``make(batches[0])``) and compare TF.js with torch at every batch size."""
    from tfjsconv.verify.compare import format_report, verify_model

    torch.set_num_threads(1)
    module.eval()
    tfjsconv.convert(module, out, example_inputs=make(batches[0]))
    doc = json.loads((out / "model.json").read_text())
    for batch in batches:
        args = make(batch)
        with torch.no_grad():
            result = module(*args)
        result = result if isinstance(result, tuple) else (result,)
        feeds = {k: (a.numpy().astype(np.int32) if a.dtype == torch.int64 else a.numpy())
                 for k, a in zip(doc["signature"]["inputs"], args)}
        expected = dict(zip(doc["signature"]["outputs"], (t.numpy() for t in result)))
        report = verify_model(out, feeds, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=0.0, quiet=True)
        assert report.passed, format_report(report)
    return doc


class IntClamp(torch.nn.Module):
    """torch.clamp on integers (ONNX Clip on int64): TF.js wasm's int32 ClipByValue is wrong, so the
    conversion for the default backends used to be refused."""

    def forward(self, x):
        n = (x * 10).to(torch.int64)
        return torch.clamp(n, min=-5, max=7), torch.clamp(n, min=-3), torch.clamp(n, max=4)


@pytest.mark.node
def test_integer_clamp_runs_on_every_backend(tmp_path, tfjs_runtime):
    def make(batch):
        return (torch.randn(batch, 4, 6, generator=torch.Generator().manual_seed(batch)),)

    doc = matches_torch(IntClamp(), make, tmp_path / "out")
    ops = [n["op"] for n in doc["modelTopology"]["node"]]
    assert "ClipByValue" not in ops and "Maximum" in ops and "Minimum" in ops


class Upsampling(torch.nn.Module):
    """F.interpolate by constant scales under a dynamic batch: the exporter writes Resize with scales
    [1, 1, sh, sw] on an input whose batch is unknown, which used to be refused ("resizing needs the resized
    axes' sizes at conversion time") although the batch axis is not resized."""

    def forward(self, x):
        import torch.nn.functional as F

        return (F.interpolate(x, scale_factor=2, mode="nearest"),
                F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
                F.interpolate(x, scale_factor=(1.5, 2), mode="bicubic", align_corners=False),
                F.interpolate(x, scale_factor=3, mode="nearest-exact"))


@pytest.mark.node
def test_interpolate_by_scales_with_a_dynamic_batch(tmp_path, tfjs_runtime):
    def make(batch):
        return (torch.randn(batch, 3, 6, 5, generator=torch.Generator().manual_seed(batch)),)

    matches_torch(Upsampling(), make, tmp_path / "out")


def matches_torch_dynamic(module, make, axes: dict, out: Path, sizes=(2, 3)) -> dict:
    """Export ``module`` with ``axes`` of its one input dynamic (dynamo, ``Dim.AUTO``), convert the ONNX file
    and compare TF.js with torch on ``make(size)`` for every size (other batch and other lengths)."""
    from tfjsconv.verify.compare import format_report, verify_model

    torch.set_num_threads(1)
    module.eval()
    dims = {a: torch.export.Dim.AUTO for a in axes}
    program = torch.onnx.export(module, make(sizes[0]), dynamo=True, report=False, verbose=False,
                                dynamic_shapes=(dims,))
    path = out.parent / f"{out.name}.onnx"
    program.save(str(path))
    tfjsconv.convert(path, out)
    doc = json.loads((out / "model.json").read_text())
    for size in sizes:
        args = make(size)
        with torch.no_grad():
            result = module(*args)
        result = result if isinstance(result, tuple) else (result,)
        expected = dict(zip(doc["signature"]["outputs"], (t.numpy() for t in result)))
        report = verify_model(out, {next(iter(doc["signature"]["inputs"])): args[0].numpy()}, expected,
                              backends=("cpu", "wasm"), rtol=RTOL, atol=0.0, quiet=True)
        assert report.passed, format_report(report)
    return doc


class ScatterByComputedIndices(torch.nn.Module):
    """torch.scatter / scatter_add with indices computed from the input (argsort) under a dynamic batch and
    sequence: ONNX ScatterElements whose indices' shape is known only at run time, which used to be refused."""

    def forward(self, x):
        idx = torch.argsort(x, dim=-1)
        spread = torch.zeros_like(x).scatter(-1, idx, x * 2)
        summed = torch.zeros_like(x).scatter_add(1, idx[:, :, :2].clamp(max=1), x[:, :, :2])
        return spread, summed


@pytest.mark.node
def test_scatter_with_run_time_shaped_indices(tmp_path, tfjs_runtime):
    def make(batch, seq=None):
        seq = seq or 2 * batch + 1
        return (torch.randn(batch, seq, 6, generator=torch.Generator().manual_seed(batch)),)

    matches_torch_dynamic(ScatterByComputedIndices(), make, (0, 1), tmp_path / "out")


class TransposedConvs(torch.nn.Module):
    """ConvTranspose1d/2d over lengths known only at run time (an audio decoder, a U-Net over any image size):
    used to be refused ("transposed convolutions need static spatial dimensions")."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.up1 = torch.nn.ConvTranspose1d(4, 3, 4, stride=2, padding=1, output_padding=1, dilation=2)
        self.up2 = torch.nn.ConvTranspose2d(4, 6, 3, stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)
        self.plain = torch.nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False)

    def forward(self, x):
        return self.up1(x.mean(-1)), self.up2(x), self.plain(x)


@pytest.mark.node
def test_transposed_convolutions_over_run_time_sizes(tmp_path, tfjs_runtime):
    def make(size):
        return (torch.randn(size, 4, 3 * size, 2 * size + 3, generator=torch.Generator().manual_seed(size)),)

    doc = matches_torch_dynamic(TransposedConvs(), make, (0, 2, 3), tmp_path / "out")
    dims = doc["signature"]["inputs"][next(iter(doc["signature"]["inputs"]))]["tensorShape"]["dim"]
    assert [d["size"] for d in dims][2:] == ["-1", "-1"]


class CausalBoolMask(torch.nn.Module):
    """A causal mask built by torch.triu on bools over a run-time length (ONNX Trilu on bool): the SelectV2
    it became runs wrongly on wasm, so the conversion used to be refused for the default backends."""

    def forward(self, x):
        s = x.shape[1]
        causal = torch.ones(s, s, dtype=torch.bool).triu(1)
        lower = (x @ x.transpose(1, 2) > 0).tril(-1)
        scores = (x @ x.transpose(1, 2)).masked_fill(causal, float("-inf"))
        return scores.softmax(-1), lower


@pytest.mark.node
def test_triu_of_bools_over_a_run_time_length(tmp_path, tfjs_runtime):
    def make(size):
        return (torch.randn(size, 2 * size + 1, 4, generator=torch.Generator().manual_seed(size)),)

    doc = matches_torch_dynamic(CausalBoolMask(), make, (0, 1), tmp_path / "out")
    assert "LogicalAnd" in [n["op"] for n in doc["modelTopology"]["node"]]


class VarArgs(torch.nn.Module):
    """``forward(*args)``, as the transformers wrappers are written: torch.export wants the dynamic batch of
    such arguments as one tuple; the flat tuple failed and the export silently fell back to a static batch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.proj = torch.nn.Linear(6, 3)

    def forward(self, *args):
        ids, x = args
        return self.proj(x) * ids.unsqueeze(-1).float()


@pytest.mark.node
def test_varargs_module_keeps_its_dynamic_batch(tmp_path, tfjs_runtime):
    def make(batch):
        g = torch.Generator().manual_seed(batch)
        return torch.randint(0, 4, (batch, 5), generator=g), torch.randn(batch, 5, 6, generator=g)

    doc = matches_torch(VarArgs(), make, tmp_path / "out", batches=(2, 3))
    assert all(t["tensorShape"]["dim"][0]["size"] == "-1" for t in doc["signature"]["inputs"].values())
    assert "exported with the dynamo exporter, dynamic batch" in doc["userDefinedMetadata"]["onnx"]["torch"]["export"]


class ReplicatePad(torch.nn.Module):
    """F.pad(mode="replicate") over lengths known only at run time (ONNX Pad mode=edge): used to be refused
    ("edge padding needs the padded axes' sizes")."""

    def forward(self, x):
        import torch.nn.functional as F

        return F.pad(x, (1, 2, 3, 0), mode="replicate"), F.pad(x.mean(1), (2, 1), mode="replicate")


@pytest.mark.node
def test_replicate_pad_over_run_time_sizes(tmp_path, tfjs_runtime):
    def make(size):
        return (torch.randn(size, 3, 2 * size + 1, size + 3, generator=torch.Generator().manual_seed(size)),)

    matches_torch_dynamic(ReplicatePad(), make, (0, 2, 3), tmp_path / "out")


class PixelShuffle(torch.nn.Module):
    """nn.PixelShuffle (ONNX DepthToSpace, CRD) over a run-time height and width, as in super-resolution nets:
    TF.js's DepthToSpace takes any size, but the conversion used to refuse unknown dims."""

    def forward(self, x):
        return torch.nn.functional.pixel_shuffle(x, 2) * 3


@pytest.mark.node
def test_pixel_shuffle_over_run_time_sizes(tmp_path, tfjs_runtime):
    def make(size):
        return (torch.randn(size, 8, size + 2, 2 * size + 1, generator=torch.Generator().manual_seed(size)),)

    matches_torch_dynamic(PixelShuffle(), make, (0, 2, 3), tmp_path / "out")


@pytest.mark.node
def test_integer_and_nan_clip_bounds_at_the_range_ends(tmp_path, tfjs_runtime):
    """Review RX1: an int bound at or past the far end of int32 used to be dropped as if it clipped nothing
    (Clip(min=INT32_MAX) returned x); a NaN bound clips nothing in onnxruntime (TF.js-cpu gave NaN); an int64
    bound whose every output leaves int32 is refused by name, one that clips nothing is dropped."""
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model
    from tfjsconv.errors import InputError

    i32, i64, f = TensorProto.INT32, TensorProto.INT64, TensorProto.FLOAT
    top, bottom = np.iinfo(np.int32).max, np.iinfo(np.int32).min
    inits = {"top": np.array(top, np.int32), "bottom": np.array(bottom, np.int32), "huge": np.array(2**40, np.int64),
             "five": np.array(5, np.int64), "nan": np.array(np.nan, np.float32), "one": np.array(1.0, np.float32)}
    nodes = [helper.make_node("Clip", ["x", "top"], ["at_least_top"]),
             helper.make_node("Clip", ["x", "", "bottom"], ["at_most_bottom"]),
             helper.make_node("Clip", ["w", "huge", "five"], ["huge_then_five"]),
             helper.make_node("Clip", ["w", "", "huge"], ["below_huge"]),
             helper.make_node("Clip", ["v", "nan", "one"], ["nan_low"]),
             helper.make_node("Clip", ["v", "one", "nan"], ["nan_high"])]
    path = onnx_model(tmp_path / "clip.onnx", nodes, {"x": (i32, [2, 3]), "w": (i64, [2, 3]), "v": (f, [2, 3])},
                      ["at_least_top", "at_most_bottom", "huge_then_five", "below_huge", "nan_low", "nan_high"],
                      opset=13, initializers=inits)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.integers(-50, 50, (2, 3)).astype(np.int32), "w": rng.integers(-50, 50, (2, 3)).astype(np.int64),
             "v": rng.standard_normal((2, 3)).astype(np.float32) * 3}
    matches_onnxruntime(path, feeds, tmp_path / "out", narrow_int64_feeds=True)

    unrepresentable = onnx_model(tmp_path / "huge.onnx", [helper.make_node("Clip", ["w", "huge"], ["y"])],
                                 {"w": (i64, [2, 3])}, ["y"], opset=13, initializers={"huge": inits["huge"]})
    with pytest.raises(InputError, match="outside the int32 range"):
        tfjsconv.convert(unrepresentable, tmp_path / "huge_out")


def _leaves(args) -> list:
    return [leaf for a in args for leaf in (_leaves(a) if isinstance(a, (tuple, list)) else [a])]


class VarArgsGivenOne(torch.nn.Module):
    """``forward(x, *rest)`` called with x only: grouping nothing into a ``()`` for *rest failed the dynamic export."""

    def forward(self, x, *rest):
        return x * 2 + sum(r.sum(-1) for r in rest) if rest else x * 2


class TuplePair(torch.nn.Module):
    """A ``(a, b)`` pair argument: a None spec for the whole tuple failed the dynamic export."""

    def forward(self, pair, scale):
        a, b = pair
        return (a - b) * scale


class CoincidentBatch(torch.nn.Module):
    """Two inputs whose dim 0 are equal only in the example: one shared ``batch`` Dim made torch.export read
    ``x[:w.shape[0]]`` as ``x``, so another size of ``x`` silently gave ``x``'s rows."""

    def forward(self, x, w):
        return x[: w.shape[0]] * 2 + w.sum()


@pytest.mark.node
@pytest.mark.parametrize("module, make", [
    (VarArgsGivenOne(), lambda b, g: (torch.randn(b, 4, generator=g),)),
    (TuplePair(), lambda b, g: ((torch.randn(b, 4, generator=g), torch.randn(b, 4, generator=g)),
                                torch.randn(b, 1, generator=g))),
    (CoincidentBatch(), lambda b, g: (torch.randn(b, 4, generator=g), torch.randn(2, 4, generator=g))),
], ids=["varargs_given_one", "tuple_pair", "coincident_batch"])
def test_dynamic_batch_export_of_unusual_signatures(module, make, tmp_path, tfjs_runtime):
    """Review RX1: each input's batch is its own Dim.AUTO, nested tuples get nested specs, *args only when some."""
    from tfjsconv.verify.compare import format_report, verify_model

    torch.set_num_threads(1)
    out = tmp_path / "out"
    tfjsconv.convert(module.eval(), out, example_inputs=make(2, torch.Generator().manual_seed(2)))
    doc = json.loads((out / "model.json").read_text())
    assert doc["userDefinedMetadata"]["onnx"]["torch"]["export"] == ["exported with the dynamo exporter, dynamic batch"]
    for batch in (2, 3):
        args = make(batch, torch.Generator().manual_seed(batch))
        with torch.no_grad():
            result = module(*args)
        feeds = {k: a.numpy() for k, a in zip(doc["signature"]["inputs"], _leaves(args))}
        expected = dict(zip(doc["signature"]["outputs"], [result.numpy()]))
        report = verify_model(out, feeds, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=0.0, quiet=True)
        assert report.passed, format_report(report)


class MultiHot(torch.nn.Module):
    """A multi-hot row from repeated token ids (torch.scatter of 1.0, ONNX ScatterElements): ScatterNd summed the
    repeats (2.0 where a token came twice)."""

    def forward(self, x):
        ids = (x.abs() * 3).to(torch.int64) % 5
        return torch.zeros(x.shape[0], 5).scatter(1, ids, 1.0) * 2 - 1


@pytest.mark.node
def test_scatter_of_repeated_indices_keeps_one_update(tmp_path, tfjs_runtime):
    """Review RX1: ScatterElements (reduction none) with an index repeated along its axis gives the last update, as
    onnxruntime applies them in order (computed indices, constant ones, negative ones, an inf dropped), never the
    sum; torch's multi-hot under a run-time batch and length matches torch."""
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model

    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    nodes = [helper.make_node("ScatterElements", ["d", "i", "u"], ["computed"], axis=1),
             helper.make_node("ScatterElements", ["d", "c", "u"], ["constant"], axis=-1)]
    path = onnx_model(tmp_path / "dup.onnx", nodes, {"d": (f, ["b", 4]), "i": (i64, ["b", "s"]), "u": (f, ["b", "s"])},
                      ["computed", "constant"], initializers={"c": np.array([[1, 1, -3], [0, 2, 0]], np.int64)})
    feeds = {"d": np.zeros((2, 4), np.float32), "i": np.array([[1, -3, 1], [0, 2, 0]], np.int64),
             "u": np.array([[1, np.inf, 3], [4, 5, 6]], np.float32)}
    matches_onnxruntime(path, feeds, tmp_path / "out", narrow_int64_feeds=True)

    def make(size):
        return (torch.randn(size, 3 * size + 2, generator=torch.Generator().manual_seed(size)),)

    matches_torch_dynamic(MultiHot(), make, (0, 1), tmp_path / "multi_hot")


class BranchOnBatch(torch.nn.Module):
    """Python control flow on the batch size: torch.export traces one branch and narrows the batch's range to it."""

    def forward(self, x):
        return x * 2 if x.shape[0] > 2 else x * 3


def test_export_narrowing_the_batch_falls_back_to_static_shapes(tmp_path):
    """Review RX1: traced at batch 3, the export kept the batch dynamic over [3, inf) only; the ONNX graph has no
    guard, so batch 2 silently took the x * 2 branch. Now retried with static shapes, and the retry noted."""
    out = tmp_path / "out"
    tfjsconv.convert(BranchOnBatch(), out, example_inputs=(torch.randn(3, 4),))
    doc = json.loads((out / "model.json").read_text())
    notes = doc["userDefinedMetadata"]["onnx"]["torch"]["export"]
    assert notes[-1] == "exported with the dynamo exporter, static shapes" and "branches on it" in notes[0]
    assert [d["size"] for d in next(iter(doc["signature"]["inputs"].values()))["tensorShape"]["dim"]] == ["3", "4"]
