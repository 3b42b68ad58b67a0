"""Pass ordering by name (after=/before=) and pass results (PassResult summed into PassStats)."""
from __future__ import annotations

import random

import numpy as np
import pytest

import tfjsconv
from random_graphs import Builder
from tfjsconv.cli.report import format_pass_report
from tfjsconv.errors import PluginError
from tfjsconv.hookspecs import hookimpl
from tfjsconv.lazy import LazyPass
from tfjsconv.passes import Pass, PassManager, PassResult
from tfjsconv.passes.ordering import order_passes
from tfjsconv.passes.transpose_chains import SimplifyTransposes
from tfjsconv.plugin_manager import PluginManager

#: Frozen copy of the built-in passes' integer `order` before they declared names (ties ran by name).
OLD_ORDER = [
    ("strip_debug_ops", 0), ("lower_control_flow", 1), ("inline_functions", 2), ("lower_einsum", 3),
    ("float64_comparisons", 3.4),  # session 27: float64 comparisons on float32 bounds, before narrow_ints
    ("narrow_ints", 3.5),  # T6: added after the integers were dropped, between lower_einsum and the normalizations
    ("truncating_division", 4), ("strided_slice", 4), ("batch_matmul_broadcast", 4), ("select_rows", 4),
    ("switch_n", 4), ("one_hot", 4), ("float_floor_division", 4), ("tfjs_pass_through", 4),
    ("empty_reductions", 4), ("shape_n", 4),  # session 15: added after the integers were dropped, a tie at 4
    ("tensor_scatter_update", 4),  # session 19: a normalization, a tie at 4
    ("int32_power", 4),  # session 21: int32 Pow as TF's wrapped squaring, a tie at 4 (ordered by name)
    ("rounded_bilinear", 4),  # session 22: a rounded ResizeBilinear as TF's kernel, a tie at 4 (ordered by name)
    ("scatter_index_guard", 4),  # session 21: run-time scatter indices checked, a tie at 4 (ordered by name)
    ("pad_guard", 4),  # session 23: run-time Pad paddings checked, a tie at 4 (ordered by name)
    # session 23 (h9): after the normalizations, before nchw_to_nhwc, a tie at 4.5 (ordered by name)
    ("band_part", 4.5),  # MatrixBandPart as a SelectV2 over a band mask
    ("bool_reverse", 4.5),  # wasm's bool ReverseV2 through int32
    ("complex_parts", 4.5),  # session 28: complex64 ops TF.js lacks, on the real and imaginary parts (by name)
    ("div_no_nan", 4.5),  # DivNoNan as SelectV2(y == 0, 0, x / y) for webgl's rank ≥ 5
    ("erf_small", 4.5),  # session 29: cpu/webgl's Erf below 1/4 as its Taylor series (ordered by name)
    ("fft_length", 4.5),  # session 27: RFFT/IRFFT's fft_length as a crop of the input (ordered by name)
    ("log1p", 4.5),  # session 28: Log1p as Log(1 + x) compensated, where wasm/webgl compute log(1 + x)
    ("mean_as_sum", 4.5),  # session 30: cpu/webgl's float32 Mean as TF's Sum / n (they divide each element first)
    ("nan_constant_pairs", 4.5),  # session 29: Maximum/Minimum of a NaN-holding constant as TF's NaN (wasm)
    ("one_hot_values", 4.5),  # wasm's float OneHot through an int32 one
    ("sign_comparisons", 4.5),  # session 30: wasm's float Sign (0 for |x| <= 1.2e-7) as two selects
    ("sin_symmetry", 4.5),  # session 28: wasm's Sin of a negative x as -Sin(|x|)
    ("split_sizes", 4.5),  # session 29: SplitV sizes with their -1 resolved (TF.js fails a -1 first)
    ("nchw_to_nhwc", 5), ("grouped_conv", 6), ("dilated_transposed_conv", 6),
    ("lookup_shape", 6), ("cumulative_axis", 6), ("batchnorm_global", 7), ("pool_3d", 6),
    ("conv3d_transpose", 6), ("pad_rank", 7),
    ("binary_rank", 8), ("transpose_rank", 8),
    ("select_rank", 8),  # session 20: after binary_rank and exact_special_values, a tie at 8 (ordered by name)
    ("select_shape", 8),  # session 29: after select_rank, a select's operand broadcast where TF.js keeps a 1 for a 0
    ("cast_to_bool", 8.2),  # session 23: wasm's Cast to bool as NotEqual(x, 0), after the rank-8 lowerings
    ("same_padding", 8.5),  # session 16: after the lowerings that make convolutions, registered after transpose_rank
    ("exact_special_values", 8), ("strided_gather", 8), ("nonempty_lookup_keys", 9), ("remove_identity", 10), ("constant_folding", 20), ("shape_folding", 25),
    ("cse", 30), ("transpose_chains", 40), ("reshape_chains", 45), ("concat_chains", 46), ("prelu", 50), ("bias_add", 55),
    ("fold_batchnorm", 60), ("batchnorm_to_mul_add", 65), ("pad_into_conv", 70), ("fuse_ops", 80),
    ("dead_code", 1000),
]
OLD_SEQUENCE = [name for name, _ in sorted(OLD_ORDER, key=lambda item: (item[1], item[0]))]


def _builtin_passes() -> list:
    return list(PluginManager(load_entry_points=False).registry.passes)


def _fake(name: str, after=(), before=(), order: int | None = None) -> Pass:
    attrs = {"name": name, "after": after, "before": before, "run": lambda self, graph: PassResult(0)}
    if order is not None:
        attrs["order"] = order
    return type(f"Fake_{name}", (Pass,), attrs)()


def _names(passes) -> list[str]:
    return [p.name for p in passes]


def test_builtin_order_is_the_old_integer_order():
    passes = _builtin_passes()
    assert sorted(_names(passes)) == sorted(OLD_SEQUENCE)  # the frozen list covers every built-in
    assert _names(order_passes(passes)) == OLD_SEQUENCE
    assert all("order" not in vars(type(p.load())) for p in passes)  # no built-in declares an integer


def test_builtin_order_holds_for_any_selection():
    """Constraints naming an unselected pass are ignored, and the rest still runs in the old order."""
    passes, rng = _builtin_passes(), random.Random(19)
    for _ in range(30):
        chosen = [p for p in passes if rng.random() < 0.6]
        assert _names(order_passes(chosen)) == [n for n in OLD_SEQUENCE if n in set(_names(chosen))]


def test_topological_order_overrides_registration_order():
    passes = [_fake("c", after=("b",)), _fake("b", after=("a",)), _fake("a"), _fake("d", before=("a",))]
    assert _names(order_passes(passes)) == ["d", "a", "b", "c"]


def test_ties_keep_registration_order_and_unknown_names_are_ignored():
    passes = [_fake("x", after=("not_installed",)), _fake("y", before="skipped"), _fake("z")]
    assert _names(order_passes(passes)) == ["x", "y", "z"]


def test_a_cycle_is_a_plugin_error_naming_its_passes():
    passes = [_fake("a", after=("c",)), _fake("b", after=("a",)), _fake("c", after=("b",)), _fake("free")]
    with pytest.raises(PluginError, match=r"cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"):
        order_passes(passes)
    with pytest.raises(PluginError, match="cycle"):
        order_passes([_fake("p", before=("q",)), _fake("q", before=("p",))])


def test_deprecated_order_only_breaks_ties():
    passes = [_fake("late", order=200), _fake("early", order=50), _fake("anchored", order=1, after=("late",))]
    assert _names(order_passes(passes)) == ["early", "late", "anchored"]


class AfterCse(Pass):
    name, level, after = "third_party_after_cse", 1, ("cse",)
    runs = 0

    def run(self, graph):
        AfterCse.runs += 1
        return False


class BeforeCse(Pass):
    name, level, before = "third_party_before_cse", 1, "cse"

    def run(self, graph):
        return 0


def test_a_third_party_pass_runs_right_after_the_pass_it_names(tmp_path):
    class Plugin:
        @hookimpl
        def register_passes(self, register):
            register(AfterCse())
            register(BeforeCse())

    pm = PluginManager(load_entry_points=False)
    pm.register(Plugin(), name="thirdparty")
    b = Builder()
    x = b.input("x", (2, 3))
    b.output("y", b.op("Mul", [x, b.const(np.full(3, 2, np.float32), "twos")], name="y"))
    result = tfjsconv.convert(b.g, tmp_path / "m", plugin_manager=pm)
    ran = [s.name for s in result.pass_report.stats]
    assert ran[ran.index("cse") + 1] == "third_party_after_cse"
    assert ran[ran.index("cse") - 1] == "third_party_before_cse"
    assert AfterCse.runs == result.pass_report.sweeps >= 1


class Scripted(Pass):
    """Returns the given results, one per run, then nothing."""

    def __init__(self, name: str, results: list) -> None:
        self.name, self.results = name, list(results)

    def run(self, graph):
        return self.results.pop(0) if self.results else PassResult(0)


def test_results_are_summed_in_pass_stats():
    passes = [Scripted("kinds", [PassResult.from_counts(folded=1, removed=2), PassResult.from_counts(folded=3)]),
              Scripted("legacy_bool", [True, True, False]), Scripted("legacy_int", [3, 0]),
              Scripted("legacy_none", [None])]
    report = PassManager(passes).run(Builder().g)
    stats = {s.name: s for s in report.stats}
    assert report.sweeps == 3  # the third sweep changes nothing
    assert (stats["kinds"].changes, stats["kinds"].counts) == (6, {"folded": 4, "removed": 2})
    assert (stats["legacy_bool"].changes, stats["legacy_bool"].counts) == (2, {})
    assert (stats["legacy_int"].changes, stats["legacy_none"].changes) == (3, 0)
    assert "folded=4, removed=2" in format_pass_report(report)


def test_pass_result_truthiness_and_compatibility():
    assert not PassResult() and not PassResult(0).modified and PassResult(2) and PassResult(2).modified
    assert PassResult.from_counts(a=2, b=0) == PassResult(2, {"a": 2})
    assert PassResult.of(True) == PassResult(1) and PassResult.of(False) == PassResult(0)
    assert PassResult.of(np.int64(4)) == PassResult(4) and PassResult.of(None) == PassResult(0)
    with pytest.raises(TypeError, match="expected a PassResult"):
        PassResult.of("changed")


def test_a_builtin_pass_reports_its_kinds():
    b = Builder()
    x = b.input("x", (2, 3, 4))
    t1 = b.op("Transpose", [x, b.const(np.array([1, 2, 0], np.int32), "p1")], name="t1")
    t2 = b.op("Transpose", [t1, b.const(np.array([2, 0, 1], np.int32), "p2")], name="t2")
    b.output("y", b.op("Relu", [t2], name="y"))
    result = SimplifyTransposes().run(b.g)
    assert result.modified and result.counts.get("simplified", 0) >= 1
    assert result.rewrites == sum(result.counts.values())
    b.g.remove_dead_nodes()
    assert "Transpose" not in b.g.op_histogram()


def test_a_lazy_declaration_must_match_after_and_before():
    target = "tfjsconv.passes.cse:EliminateCommonSubexpressions"
    LazyPass("cse", target, level=1).load()
    with pytest.raises(PluginError, match="declared as"):
        LazyPass("cse", target, level=1, after=("constant_folding",)).load()
    with pytest.raises(PluginError, match="declared as"):
        LazyPass("shape_folding", "tfjsconv.passes.shape_folding:FoldShapes", level=1).load()


#: The savedmodel plugin's frontend passes (stage "frontend"), in the order the former
#: rewrite_for_tfjs applied its rules.
FRONTEND_SEQUENCE = ["drop_control_edges", "tf_op_rewrites", "remove_no_ops", "bypass_constant_enters",
                     "unwrap_output_identity_n"]


def test_frontend_passes_keep_their_order_and_stay_out_of_the_pipeline():
    from tfjsconv.passes import select_passes

    passes = PluginManager().registry.passes  # with the savedmodel plugin
    frontend = [p for p in passes if p.stage == "frontend"]
    assert _names(order_passes(frontend)) == FRONTEND_SEQUENCE
    assert _names(order_passes(select_passes(passes, level=0, stage="frontend"))) == FRONTEND_SEQUENCE
    pipeline = select_passes(passes, level=2)
    assert not set(_names(pipeline)) & set(FRONTEND_SEQUENCE)
    assert [n for n in _names(order_passes(pipeline)) if n in OLD_SEQUENCE] == [
        n for n in OLD_SEQUENCE if n in set(_names(pipeline))]
    assert {p.name for p in frontend if p.required} == {"drop_control_edges", "tf_op_rewrites",
                                                        "bypass_constant_enters"}


def test_a_lazy_declaration_must_match_stage_and_required():
    target = "tfjsconv.plugins.savedmodel.frontend_passes:BypassConstantEnters"
    LazyPass("bypass_constant_enters", target, level=0, after="remove_no_ops", stage="frontend", required=True).load()
    with pytest.raises(PluginError, match="declared as"):
        LazyPass("bypass_constant_enters", target, level=0, after="remove_no_ops", stage="frontend").load()
    with pytest.raises(PluginError, match="declared as"):
        LazyPass("bypass_constant_enters", target, level=0, after="remove_no_ops", required=True).load()
