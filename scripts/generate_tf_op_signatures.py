#!/usr/bin/env python3
"""Regenerate ``core/ops/data/tf_op_signatures.json``: the input/output args and attrs of the TF ops we read.

Why generated: the TF-free SavedModel reader (``plugins/savedmodel/graphdef_ir.py``) must check a node's
input dtypes and type attrs as TensorFlow's importer does (an ``AddV2`` with ``T=float`` fed an int32, a
``Select`` with a float condition), without importing TensorFlow. The facts come from TF's own op registry
(``op_def_registry.get``), dumped once at dev time, instead of a hand table that drifts. ``--check`` lets a
test prove the committed file matches the installed TensorFlow.

Ops covered: every op of the core op registry (``core/ops/data/tfjs_ops.json``: what TF.js runs), the ops the
TF-free reader's own tables name (output layouts, default attrs) and :data:`READER_OPS`, the ops the readers
handle themselves (functional control flow, variables, placeholders). Names TF does not register are skipped.

Format (one op per line, sorted): ``{"in": [arg, ...], "out": [arg, ...], "attrs": {name: [type, has_default,
allowed, minimum]}}``. An arg is a string ``name:spec``: ``spec`` is ``=FLOAT`` (a fixed type, TF's DataType
name without ``DT_``), ``T`` (a type attr), ``T*N`` / ``=INT32*N`` (``N`` tensors, ``N`` an int attr) or
``[Tin]`` (one tensor per entry of a list-of-types attr); a leading ``&`` marks a ref arg. ``allowed`` lists
a type attr's allowed types (null: any); ``minimum`` is an int or list attr's minimum (null: none).

Usage::

    python scripts/generate_tf_op_signatures.py            # needs TensorFlow
    python scripts/generate_tf_op_signatures.py --check    # exit 1 if the committed file is stale
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "core" / "ops" / "data" / "tf_op_signatures.json"

#: Ops the readers handle themselves rather than through the TF.js op list.
READER_OPS = (
    "If", "StatelessIf", "While", "StatelessWhile", "Case", "StatelessCase", "PartitionedCall",
    "StatefulPartitionedCall", "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "VariableV2", "Variable",
    "Assign", "Placeholder", "PlaceholderWithDefault", "PlaceholderV2", "Const", "NoOp", "Identity", "IdentityN",
    "Snapshot", "StopGradient", "PreventGradient", "CheckNumerics", "Enter", "Exit", "Switch", "Merge",
    "NextIteration", "LoopCond", "RestoreV2", "SaveV2", "HashTableV2", "MutableHashTableV2", "LookupTableFindV2",
    "LookupTableImportV2", "LookupTableSizeV2", "InitializeTableV2", "InitializeTableFromTextFileV2",
    "TensorArrayV3", "TensorArrayReadV3", "TensorArrayWriteV3", "TensorArrayGatherV3", "TensorArrayScatterV3",
    "TensorArraySizeV3", "TensorArrayGradV3", "TensorListReserve", "TensorListSetItem", "TensorListGetItem",
    "TensorListStack", "TensorListFromTensor", "TensorListPushBack", "EmptyTensorList", "TensorListLength",
    "TensorListElementShape", "TensorListSplit", "TensorListConcatV2", "Assert", "Print", "PrintV2",
    "StringFormat", "DebugIdentity", "DebugIdentityV2", "EnsureShape", "_Arg", "_Retval",
)


def _op_names() -> list[str]:
    """Every op name to dump: the op registry's, the reader tables' and :data:`READER_OPS`."""
    sys.path.insert(0, str(REPO_ROOT))
    from tfjsconv.ops import OpRegistry
    from tfjsconv.plugins.savedmodel import op_defaults, op_outputs

    names = {*OpRegistry.builtin().names(), *READER_OPS, *op_defaults.DEFAULTS, *op_defaults.REQUIRED,
             *op_outputs.MULTI_OUTPUT_OPS, *op_outputs.FIXED_OUTPUT_DTYPES, *op_outputs.SINGLE_OUTPUT_OPS}
    return sorted(names)


def _type_name(number: int) -> str:
    """TF's DataType name without ``DT_`` (``FLOAT`` for 1)."""
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(number).removeprefix("DT_")


def _arg(arg: Any) -> str:
    """One input or output arg as ``name:spec`` (see the module doc)."""
    if arg.type_list_attr:
        spec = f"[{arg.type_list_attr}]"
    else:
        spec = f"={_type_name(arg.type)}" if arg.type else arg.type_attr
        if arg.number_attr:
            spec += f"*{arg.number_attr}"
    return f"{'&' if arg.is_ref else ''}{arg.name}:{spec}"


def _attr(attr: Any) -> list[Any]:
    """One attr as ``[type, has_default, allowed types or null, minimum or null]``."""
    allowed = None
    if attr.type in ("type", "list(type)") and attr.HasField("allowed_values"):
        allowed = sorted(_type_name(t) for t in attr.allowed_values.list.type)
    return [attr.type, attr.HasField("default_value"), allowed, attr.minimum if attr.has_minimum else None]


def signature(op_def: Any) -> dict[str, Any]:
    """The facts of one OpDef the TF-free reader checks."""
    return {"in": [_arg(a) for a in op_def.input_arg], "out": [_arg(a) for a in op_def.output_arg],
            "attrs": {a.name: _attr(a) for a in op_def.attr}}


def generate() -> dict[str, Any]:
    """The whole document: a header and each registered op's signature."""
    import tensorflow as tf
    from tensorflow.python.framework import op_def_registry

    ops = {}
    for name in _op_names():
        op_def = op_def_registry.get(name)
        if op_def is not None:
            ops[name] = signature(op_def)
    return {"header": {"generated_by": "scripts/generate_tf_op_signatures.py", "tensorflow": tf.__version__,
                       "op_count": len(ops)}, "ops": ops}


def dumps(document: dict[str, Any]) -> str:
    """Stable, compact text: the header, then one op per line in name order."""
    lines = [f"  {json.dumps(name)}: {json.dumps(sig, sort_keys=True, separators=(',', ':'))}"
             for name, sig in sorted(document["ops"].items())]
    header = json.dumps(document["header"], sort_keys=True, separators=(",", ":"))
    return '{"header": ' + header + ',\n "ops": {\n' + ",\n".join(lines) + "\n }\n}\n"


def _ops_part(text: str) -> Any:
    """The ``ops`` of a file's text (the header's TF version may differ without the facts differing)."""
    try:
        return json.loads(text).get("ops")
    except (json.JSONDecodeError, AttributeError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    args = parser.parse_args(argv)
    document = generate()
    text = dumps(document)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if _ops_part(current) != document["ops"]:
            print(f"{args.output} is stale; run scripts/generate_tf_op_signatures.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date ({len(document['ops'])} ops)")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: {len(document['ops'])} ops, {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
