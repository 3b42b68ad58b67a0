"""``RFFT``/``IRFFT`` whose ``fft_length`` reads less than the signal holds → a crop of the input, then the op.

TF.js 4.22's converter maps ``RFFT``/``IRFFT`` to ``tf.rfft``/``tf.irfft`` of the input alone: ``fft_length`` is
dropped. TF's ``RFFT`` transforms the first ``fft_length`` samples, and ``IRFFT`` with length ``n`` reads the first
``n // 2 + 1`` bins and returns ``n`` values, where TF.js's irfft returns ``2 * (m - 1)`` values for ``m`` bins
(session 27, h9 probe: ``rfft(x, [4])`` of 8 samples came out as the 8-point transform). TF's kernels crop a longer
input and raise on a shorter one (``tf.signal`` pads a short signal itself, with a ``Pad`` in the graph). With a
constant ``fft_length`` and a known innermost length, a longer input is cropped (``Slice``; a complex one part by
part through ``Real``/``Imag``/``Complex``: TF.js's cpu ``Slice`` has no complex kernel); an RFFT whose lengths are
known only at run time is sliced at run time (:func:`crop_at_run_time`). Refused by name, as TF.js would compute
another transform silently: ``IRFFT`` of an odd length (TF.js cannot return an odd count) or of lengths known only
at run time, an input of unknown rank, and an input shorter than what TF reads.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import const_array
from .shapes import infer_shapes

FFT_LENGTH_OPS = frozenset({"RFFT", "IRFFT"})


class _Refused(Exception):
    """Why one node's transform cannot be made TF's in TF.js."""


def _constant_length(node: Node) -> int | None:
    """The node's ``fft_length`` when it is a constant of one element, else None."""
    array = const_array(node.inputs[1]) if len(node.inputs) > 1 else None
    return int(array.reshape(-1)[0]) if array is not None and array.size == 1 else None


def _read_length(node: Node, length: int | None) -> int:
    """How many innermost elements TF's op reads for ``fft_length``; refuses what TF.js cannot return."""
    if length is None:
        raise _Refused("fft_length is not a constant")
    if node.op == "RFFT":
        return length
    if length % 2:
        raise _Refused(f"fft_length {length} is odd: TF.js's irfft returns 2 * (bins - 1) values")
    return length // 2 + 1


def _input_dtype(node: Node) -> DType:
    """The transform's input dtype: complex for IRFFT, real for RFFT, double-width only when said so."""
    said = node.inputs[0].dtype or node.attrs.get("Tcomplex" if node.op == "IRFFT" else "Treal")
    wide = said is not None and DType.from_any(said) in (DType.COMPLEX128, DType.FLOAT64)
    if node.op == "IRFFT":
        return DType.COMPLEX128 if wide else DType.COMPLEX64
    return DType.FLOAT64 if wide else DType.FLOAT32


def _slice_last(graph: Graph, node: Node, x: Value, shape: tuple, size: int, dtype: DType, label: str) -> Value:
    """``x`` cropped to its first ``size`` elements along the innermost axis."""
    begin = graph.const(np.zeros(len(shape), np.int32), name=f"{node.name}/{label}_begin")
    sizes = graph.const(np.asarray([-1] * (len(shape) - 1) + [size], np.int32), name=f"{node.name}/{label}_size")
    return graph.add_op("Slice", [x, begin, sizes], {"T": dtype, "Index": DType.INT32}, name=f"{node.name}/{label}",
                        dtype=dtype, shape=(*shape[:-1], size))


def _crop_complex(graph: Graph, node: Node, x: Value, shape: tuple, size: int, dtype: DType) -> Value:
    """A complex ``x`` cropped part by part (TF.js's cpu Slice has no complex kernel)."""
    real = DType.FLOAT64 if dtype is DType.COMPLEX128 else DType.FLOAT32
    cropped = []
    for op in ("Real", "Imag"):
        part = graph.add_op(op, [x], {"T": dtype, "Tout": real}, name=f"{node.name}/{op.lower()}", dtype=real,
                            shape=shape)
        cropped.append(_slice_last(graph, node, part, shape, size, real, f"crop_{op.lower()}"))
    return graph.add_op("Complex", cropped, {"T": real, "Tout": dtype}, name=f"{node.name}/crop", dtype=dtype,
                        shape=(*shape[:-1], size))


def crop_innermost(graph: Graph, node: Node, shape: tuple | None, length: int) -> bool:
    """Crop the node's input to the ``length`` innermost elements TF reads; False when it has that length already.
    A shorter input is refused: TF's kernel raises on it."""
    if shape is None or not shape or shape[-1] is None or shape[-1] < 0:
        raise _Refused("the input's innermost length is known only at run time")
    if shape[-1] < length:
        raise _Refused(f"the input's innermost length {shape[-1]} is below the {length} TF reads (TF raises on it)")
    if shape[-1] == length:
        return False
    x, dtype = node.inputs[0], _input_dtype(node)
    if node.op == "IRFFT":
        node.inputs[0] = _crop_complex(graph, node, x, tuple(shape), length, dtype)
    else:
        node.inputs[0] = _slice_last(graph, node, x, tuple(shape), length, dtype, "crop")
    return True


def crop_at_run_time(graph: Graph, node: Node, shape: tuple | None) -> bool:
    """An RFFT whose ``fft_length`` or innermost length is known only at run time: its input sliced to its first
    ``fft_length`` samples by a run-time ``Slice`` (``tf.signal.rfft`` of a signal of unknown length reads its whole
    length: the slice keeps it; a shorter signal makes the Slice raise, as TF's kernel does). IRFFT stays refused:
    whether TF.js's ``2 * (bins - 1)`` is TF's length is not known before the run."""
    if node.op != "RFFT":
        raise _Refused("fft_length or the bins' count is known only at run time: TF.js's irfft returns "
                       "2 * (bins - 1) values, which may not be fft_length")
    if shape is None or not shape:
        raise _Refused("the input's rank is known only at run time")
    rank, x = len(shape), node.inputs[0]
    length = graph.add_op("Reshape", [node.inputs[1], graph.const(np.asarray([1], np.int32),
                                                                  name=f"{node.name}/length_shape")],
                          {"T": DType.INT32, "Tshape": DType.INT32}, name=f"{node.name}/length", dtype=DType.INT32,
                          shape=(1,))
    sizes = graph.add_op("ConcatV2", [graph.const(np.full(rank - 1, -1, np.int32), name=f"{node.name}/whole"), length,
                                      graph.const(np.asarray(0, np.int32), name=f"{node.name}/sizes_axis")],
                         {"N": 2, "T": DType.INT32, "Tidx": DType.INT32}, name=f"{node.name}/sizes",
                         dtype=DType.INT32, shape=(rank,))
    begin = graph.const(np.zeros(rank, np.int32), name=f"{node.name}/crop_begin")
    dtype = _input_dtype(node)
    node.inputs[0] = graph.add_op("Slice", [x, begin, sizes], {"T": dtype, "Index": DType.INT32},
                                  name=f"{node.name}/crop", dtype=dtype, shape=(*shape[:-1], None))
    return True


class FftLength(Pass):
    """``RFFT``/``IRFFT``'s ``fft_length`` made explicit as a crop of the input TF.js transforms."""

    name = "fft_length"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op in FFT_LENGTH_OPS]
        if not nodes:
            return PassResult(0)
        shapes = infer_shapes(graph)
        count, problems = 0, {}
        for node in nodes:
            x = node.inputs[0]
            shape, length = shapes.get(x) or x.shape, _constant_length(node)
            known = length is not None and shape is not None and len(shape) > 0 and shape[-1] is not None and \
                shape[-1] >= 0
            try:
                count += crop_innermost(graph, node, shape, _read_length(node, length)) if known else \
                    crop_at_run_time(graph, node, shape)
            except _Refused as why:
                problems.setdefault(node.op, []).append(f"{node.name} ({why})")
        if problems:
            from ..errors import OpProblemsError

            raise OpProblemsError(problems, "TF.js ignores fft_length and would compute another transform",
                                  hint="give the signal a fixed length and fft_length a constant (an even one "
                                       "for IRFFT)")
        return PassResult(count)
