"""The core's own contributions, registered through the same hooks as any plugin."""
from __future__ import annotations

from typing import Callable

from .hookspecs import hookimpl


@hookimpl
def register_writers(register: Callable) -> None:
    from .writers.graph_model import GraphModelWriter
    from .writers.layers_model import LayersModelWriter

    register(GraphModelWriter())
    register(LayersModelWriter())


@hookimpl
def register_frontends(register: Callable) -> None:
    from .frontends.ir_frontend import IRFrontend

    register(IRFrontend())


@hookimpl
def register_passes(register: Callable) -> None:
    """The built-in passes (docs/passes.md); a plugin registers its own through the same hook."""
    from .passes.batch_matmul_broadcast import BroadcastBatchMatMul
    from .passes.batchnorm_global import BatchNormGlobalToFused
    from .passes.batchnorm_to_mul_add import BatchNormToMulAdd
    from .passes.bias_add import AddToBiasAdd
    from .passes.constant_folding import FoldConstants
    from .passes.conv3d_transpose import Conv3DTransposeAsConv3D
    from .passes.cse import EliminateCommonSubexpressions
    from .passes.cumulative_axis import NonNegativeCumulativeAxis
    from .passes.dead_code import RemoveDeadNodes
    from .passes.dilated_transposed_conv import UndilateTransposedConv
    from .passes.einsum import LowerEinsum
    from .passes.empty_reductions import EmptyReductions
    from .passes.float_floor_division import FloatFloorDivision
    from .passes.fold_batchnorm import FoldBatchNorm
    from .passes.fuse_ops import FuseOps
    from .passes.grouped_conv import LowerGroupedConv
    from .passes.identity import RemoveIdentities
    from .passes.inline_functions import InlineFunctions
    from .passes.lookup_shape import RestoreLookupShape
    from .passes.nchw_to_nhwc import ChannelsLast
    from .passes.one_hot import NormalizeOneHot
    from .passes.pad_rank import LowerPadRank
    from .passes.pool_3d import SplitPool3D
    from .passes.pad_into_conv import FoldPadIntoConv
    from .passes.prelu import FusePrelu
    from .passes.reshape_chains import SimplifyReshapes
    from .passes.select_rows import SelectRowsToSelectV2
    from .passes.shape_folding import FoldShapes
    from .passes.special_values import ExactSpecialValues
    from .passes.strided_slice import NormalizeStridedSlice
    from .passes.strip_debug_ops import StripDebugOps
    from .passes.transpose_chains import SimplifyTransposes
    from .passes.tfjs_pass_through import TfjsPassThrough
    from .passes.truncating_division import TruncatingDivision

    for pass_ in (StripDebugOps(), RemoveIdentities(), FoldConstants(), FoldShapes(), EliminateCommonSubexpressions(),
                  SimplifyTransposes(), SimplifyReshapes(), FusePrelu(), AddToBiasAdd(), FoldBatchNorm(),
                  BatchNormToMulAdd(), FoldPadIntoConv(), FuseOps(), RemoveDeadNodes()):
        register(pass_)
    # rewrites TF graphs need so that TF.js computes what TF computes (they run at every level)
    for pass_ in (InlineFunctions(), LowerEinsum(), TruncatingDivision(), NormalizeStridedSlice(),
                  BroadcastBatchMatMul(), SelectRowsToSelectV2(), NormalizeOneHot(), FloatFloorDivision(),
                  TfjsPassThrough(), EmptyReductions(), ChannelsLast(), LowerGroupedConv(), UndilateTransposedConv(),
                  RestoreLookupShape(), NonNegativeCumulativeAxis(), BatchNormGlobalToFused(), SplitPool3D(),
                  Conv3DTransposeAsConv3D(), LowerPadRank()):
        register(pass_)
    register(ExactSpecialValues())  # opt-in (--exact_special_values): TF's NaN/Inf results on deviating backends
