"""``tfjsconv inspect PATH``: signature, ops, weights and shards of a source model or a TF.js model."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .flags import parse_list


def add_parser(sub: Any) -> None:
    p = sub.add_parser("inspect", help="show what is inside a model (any input format, or a TF.js model folder)",
                       description=__doc__)
    p.add_argument("path", help="a source model (file or folder) or a TF.js model folder / model.json")
    p.add_argument("--input_format", help="format of PATH (detected when omitted)")
    p.add_argument("--output_node_names", type=parse_list, default=None, metavar="NAMES",
                   help="comma-separated output nodes (frozen GraphDefs, which need them)")
    p.add_argument("--depth", type=int, default=1, help="'/'-separated name parts that make a layer (default 1)")
    p.add_argument("--all", action="store_true", help="show every row of the long tables")
    p.add_argument("--json", action="store_true", help="print the report as JSON (schema: docs/inspect.md)")


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..inspect import format_inspection, inspect_model

    if args.depth < 1:
        raise UsageError("--depth must be >= 1")
    doc = inspect_model(args.path, input_format=args.input_format, depth=args.depth,
                        output_node_names=args.output_node_names or None)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(format_inspection(doc, limit=10**9 if args.all else 15))
    sys.stdout.flush()
    return 0
