"""The op registry: the generated TF.js 4.22 op data, graph checks, custom ops, and regeneration."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tfjsconv.errors import PluginError, UnsupportedOpsError
from tfjsconv.ir import Graph
from tfjsconv.ops import DEBUG_OPS, OpDef, OpRegistry

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "generate_op_registry.py"
COMMITTED = REPO / "core" / "ops" / "data" / "tfjs_ops.json"
CONVERTER_DIR_ENV = "TFJSCONV_TFJS_CONVERTER_DIR"

needs_node_binary = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


def load_generator() -> ModuleType:
    """scripts/ is not a package; load the generator by path (it is stdlib-only)."""
    spec = importlib.util.spec_from_file_location("generate_op_registry", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def registry() -> OpRegistry:
    return OpRegistry.builtin()


def graph_with_ops(*ops: tuple[str, str]) -> Graph:
    """A chain x -> ops[0] -> ops[1] -> ... -> output; each item is (op type, node name)."""
    g = Graph("test")
    value = g.placeholder("x", "float32", (1, 4))
    for op, name in ops:
        value = g.add_op(op, [value], name=name)
    g.set_output("y", value)
    return g


# -- the generated data -----------------------------------------------------------------------
def test_builtin_counts(registry: OpRegistry) -> None:
    assert len(registry) == 248
    assert len(registry.names()) == 248
    assert len(registry.categories()) == 21
    assert sum(len(names) for names in registry.categories().values()) == 248
    assert registry.source["package"] == "@tensorflow/tfjs-converter"
    assert registry.source["version"] == "4.22.0"


def test_builtin_is_cached(registry: OpRegistry) -> None:
    assert OpRegistry.builtin() is registry


@pytest.mark.parametrize("name", ["_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative", "Prelu",
                                  "MatMul", "Conv2D", "Softmax", "StringToHashBucketFast", "Placeholder", "Const"])
def test_known_ops(registry: OpRegistry, name: str) -> None:
    assert name in registry
    assert registry.is_supported(name)
    assert registry.get(name).name == name


def test_op_details_are_parsed(registry: OpRegistry) -> None:
    conv = registry.get("Conv2D")
    assert conv.category == "convolution"
    assert [i.name for i in conv.inputs] == ["x", "filter"]
    attrs = {a.tf_name: a for a in conv.attrs}
    assert attrs["data_format"].has_default and attrs["data_format"].default == "NHWC"
    assert attrs["data_format"].name == "dataFormat"
    assert attrs["explicit_paddings"].default == ()  # JSON [] is frozen into a tuple
    assert not attrs["strides"].has_default and attrs["strides"].default is None
    assert attrs["T"].not_supported
    leaky = {a.tf_name: a for a in registry.get("LeakyRelu").attrs}
    assert leaky["alpha"].default == pytest.approx(0.2)
    squeeze = {a.tf_name: a for a in registry.get("Squeeze").attrs}
    assert squeeze["axis"].tf_deprecated_name == "squeeze_dims"
    assert registry.get("StringSplit").outputs == ("indices", "values", "shape")
    assert registry.get("Softmax") == registry.get("Softmax") and hash(registry.get("Conv2D"))


def test_ops_tfjs_does_not_load(registry: OpRegistry) -> None:
    """TF.js 4.22's OperationMapper skips the ragged and tfdf op lists: "Unknown op" at runtime."""
    unloaded = sorted(op.name for op in registry if not op.executable)
    assert unloaded == ["RaggedGather", "RaggedRange", "RaggedTensorToTensor", "SimpleMLCreateModelResource",
                        "SimpleMLInferenceOpWithHandle", "SimpleMLLoadModelFromPathWithHandle"]
    assert "RaggedRange" in registry and not registry.is_supported("RaggedRange")
    with pytest.raises(UnsupportedOpsError) as info:
        registry.check(graph_with_ops(("RaggedRange", "rr")))
    assert "does not load" in str(info.value)


def test_get_unknown_op_is_a_clear_error(registry: OpRegistry) -> None:
    with pytest.raises(UnsupportedOpsError) as info:
        registry.get("Conv2d")
    assert "Conv2d" in str(info.value) and "did you mean Conv2D" in str(info.value)
    assert not isinstance(info.value, KeyError)


# -- checking graphs ---------------------------------------------------------------------------
def test_check_passes_on_supported_graph(registry: OpRegistry) -> None:
    g = graph_with_ops(("Relu", "relu"), ("Softmax", "softmax"))
    assert registry.check(g) == {}
    assert registry.unsupported(g) == {}


def test_check_names_every_unsupported_op_and_node(registry: OpRegistry) -> None:
    g = graph_with_ops(("FooOp", "foo_a"), ("Relu", "relu"), ("BarOp", "bar_1"), ("FooOp", "foo_b"))
    expected = {"BarOp": ["bar_1"], "FooOp": ["foo_a", "foo_b"]}
    assert registry.unsupported(g) == expected
    with pytest.raises(UnsupportedOpsError) as info:
        registry.check(g)
    err = info.value
    assert err.ops == expected
    message = str(err)
    for text in ("FooOp", "BarOp", "foo_a", "foo_b", "bar_1"):
        assert text in message
    assert "relu" not in err.message
    assert "docs/plugins.md" in message and "--skip_op_check" in message


def test_skip_op_check_returns_instead_of_raising(registry: OpRegistry) -> None:
    g = graph_with_ops(("FooOp", "foo"))
    assert registry.check(g, skip_op_check=True) == {"FooOp": ["foo"]}


def test_strip_debug_ops(registry: OpRegistry) -> None:
    assert DEBUG_OPS == {"Assert", "CheckNumerics", "Print"}
    g = graph_with_ops(("CheckNumerics", "check"), ("Print", "print"))
    with pytest.raises(UnsupportedOpsError) as info:
        registry.check(g)
    assert info.value.ops == {"CheckNumerics": ["check"]}  # Print runs in TF.js; CheckNumerics does not
    assert "--strip_debug_ops" in str(info.value)
    assert registry.check(g, strip_debug_ops=True) == {}


def test_library_function_nodes_are_checked(registry: OpRegistry) -> None:
    g = graph_with_ops(("Relu", "relu"))
    g.library.append({"signature": {"name": "body"}, "nodeDef": [{"name": "n1", "op": "FooOp"},
                                                                  {"name": "n2", "op": "AddV2"}]})
    assert registry.unsupported(g) == {"FooOp": ["body/n1"]}


# -- custom ops --------------------------------------------------------------------------------
def test_custom_op_makes_check_pass(registry: OpRegistry) -> None:
    g = graph_with_ops(("FooOp", "foo_a"), ("BarOp", "bar"), ("FooOp", "foo_b"))
    extended = registry.with_custom([OpDef("FooOp", plugin="my_plugin"), OpDef("BarOp", custom=True)])
    assert extended.check(g) == {}
    assert len(extended) == 250 and len(registry) == 248  # the builtin registry is untouched
    assert "FooOp" not in registry
    assert extended.get("FooOp").custom and extended.get("FooOp").plugin == "my_plugin"
    assert extended.categories()["custom"] == ["BarOp", "FooOp"]
    with pytest.raises(UnsupportedOpsError):
        registry.check(g)


def test_custom_op_named_like_builtin_is_an_error(registry: OpRegistry) -> None:
    with pytest.raises(PluginError) as info:
        registry.with_custom([OpDef("Conv2D", plugin="bad_plugin")])
    assert "Conv2D" in str(info.value) and "bad_plugin" in str(info.value)


def test_duplicate_custom_ops_are_an_error(registry: OpRegistry) -> None:
    with pytest.raises(PluginError, match="already registered"):
        registry.with_custom([OpDef("FooOp", plugin="a"), OpDef("FooOp", plugin="b")])
    with pytest.raises(PluginError):
        registry.with_custom([OpDef("FooOp")]).with_custom([OpDef("FooOp")])


def test_custom_op_may_supply_an_unloaded_builtin(registry: OpRegistry) -> None:
    """tf.registerOp is how TF-DF's SimpleML* ops run, so a plugin may declare them."""
    extended = registry.with_custom([OpDef("SimpleMLInferenceOpWithHandle", plugin="tfdf")])
    assert extended.is_supported("SimpleMLInferenceOpWithHandle")
    assert len(extended) == 248


# -- the generator ---------------------------------------------------------------------------
def write_fake_package(root: Path, version: str = "4.22.0") -> Path:
    """A two-list miniature of tfjs-converter's layout, for fast generator tests."""
    op_list = root / "dist" / "operations" / "op_list"
    op_list.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": "@tensorflow/tfjs-converter", "version": version}))
    (op_list / "math.js").write_text(
        "export const json = [{'tfOpName': 'Sub', 'category': 'math', 'inputs': [{'start': 0, 'name': 'a', "
        "'type': 'tensor'}], 'attrs': [{'tfName': 'T', 'name': 'dtype', 'type': 'dtype', 'notSupported': true}]},"
        "{'tfOpName': 'Add', 'category': 'math', 'attrs': [{'tfName': 'k', 'name': 'k', 'type': 'number', "
        "'defaultValue': 0.5}]}];\n")
    (op_list / "extra.js").write_text("export const json = [{'tfOpName': 'Extra'}];\n")
    (root / "dist" / "operations" / "operation_mapper.js").write_text(
        "import * as math from './op_list/math';\nimport * as extra from './op_list/extra';\n"
        "const ops = [\n    math\n];\n")
    return root


def test_generator_refuses_other_versions(tmp_path: Path) -> None:
    gen = load_generator()
    package = write_fake_package(tmp_path / "pkg", version="4.21.0")
    with pytest.raises(gen.GenerateError, match="--allow-version-mismatch"):
        gen.generate(package)
    assert gen.main(["--package-dir", str(package), "--output", str(tmp_path / "out.json")]) == 2


def test_generator_rejects_other_packages(tmp_path: Path) -> None:
    gen = load_generator()
    (tmp_path / "package.json").write_text(json.dumps({"name": "@tensorflow/tfjs-core", "version": "4.22.0"}))
    with pytest.raises(gen.GenerateError, match="tfjs-converter"):
        gen.generate(tmp_path)


@needs_node_binary
def test_generator_on_fake_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gen = load_generator()
    package = write_fake_package(tmp_path / "pkg", version="4.23.1")
    document = gen.generate(package, allow_version_mismatch=True)
    assert [op["name"] for op in document["ops"]] == ["Add", "Extra", "Sub"]
    assert document["header"]["version"] == "4.23.1"
    assert document["header"]["categories"] == ["extra", "math"]
    add, extra, sub = document["ops"]
    assert add["attrs"][0]["defaultValue"] == 0.5 and add["inputs"] == []
    assert extra["executable"] is False and extra["category"] == "extra"
    assert sub["attrs"][0]["notSupported"] is True and sub["executable"] is True

    out = tmp_path / "ops.json"
    args = ["--package-dir", str(package), "--output", str(out), "--allow-version-mismatch"]
    assert gen.main([*args, "--check"]) == 1  # missing file
    assert gen.main(args) == 0
    assert gen.main([*args, "--check"]) == 0
    stale = json.loads(out.read_text())
    stale["ops"] = [op for op in stale["ops"] if op["name"] != "Sub"]
    stale["ops"][0]["attrs"][0]["defaultValue"] = 1
    stale["header"]["op_count"] = 2
    out.write_text(gen.dumps(stale))
    capsys.readouterr()
    assert gen.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "added (1): Sub" in err and "changed (1): Add" in err and "header.op_count" in err

    registry = OpRegistry.from_document(document)
    assert len(registry) == 3 and registry.is_supported("Add") and not registry.is_supported("Extra")


def converter_package_dir() -> Path:
    """The tfjs-converter package to regenerate from: $TFJSCONV_TFJS_CONVERTER_DIR, else the TF.js runtime's."""
    explicit = os.environ.get(CONVERTER_DIR_ENV)
    if explicit:
        return Path(explicit)
    from tfjsconv.errors import RuntimeMissingError
    from tfjsconv.verify.runtime import ensure_runtime

    try:
        root = ensure_runtime(quiet=True)
    except RuntimeMissingError as err:
        pytest.skip(f"TF.js runtime unavailable: {err}")
    candidates = [root / "node_modules" / "@tensorflow" / "tfjs-converter",
                  root / "node_modules" / "@tensorflow" / "tfjs" / "node_modules" / "@tensorflow" / "tfjs-converter"]
    for candidate in candidates:
        if (candidate / "package.json").is_file():
            return candidate
    pytest.fail(f"@tensorflow/tfjs-converter not found in the TF.js runtime at {root}")


@pytest.mark.node
@needs_node_binary
def test_committed_registry_matches_the_npm_package() -> None:
    """The committed JSON is exactly what the generator makes from @tensorflow/tfjs-converter 4.22.0."""
    gen = load_generator()
    document = gen.generate(converter_package_dir())
    assert document["header"]["op_count"] == 248
    assert len(document["header"]["categories"]) == 21
    committed = COMMITTED.read_text(encoding="utf-8")
    if gen.dumps(document) != committed:
        pytest.fail("core/ops/data/tfjs_ops.json is stale; run scripts/generate_op_registry.py:\n  "
                    + "\n  ".join(gen.diff_summary(json.loads(committed), document)))


def test_min_inputs_never_exceed_what_tensorflow_requires(registry: OpRegistry) -> None:
    """The GraphDef readers refuse a node with fewer inputs than ``min_inputs``: a count above TF's own
    minimum (TF.js's op list places optional inputs too, as EnsureShape's shape) would refuse valid graphs."""
    op_def_registry = pytest.importorskip("tensorflow.python.framework.op_def_registry")
    checked = 0
    for name in registry.names():
        op_def = op_def_registry.get(name)
        if op_def is None:  # TF.js-only ops (Conv1D, Prelu, ...) never come from a TF file
            continue
        minimums = {attr.name: attr.minimum for attr in op_def.attr}
        least = sum(1 if not (arg.number_attr or arg.type_list_attr) else minimums.get(arg.number_attr, 0)
                    for arg in op_def.input_arg)
        assert registry.get(name).min_inputs <= least, name
        checked += 1
    assert checked > 200
    assert registry.get("AddV2").min_inputs == 2 and registry.get("EnsureShape").min_inputs == 1
