"""``tfjsconv ops``: the ops TF.js 4.22 executes, plus custom ops from plugins."""
from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ops", help="list the ops TF.js can run (by category)")
    p.add_argument("names", nargs="*", help="show only these ops, with their inputs and attrs")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from ..errors import UsageError
    from ..ops.registry import OpRegistry
    from ..plugin_manager import get_plugin_manager

    ops = OpRegistry.builtin().with_custom(get_plugin_manager().registry.ops)
    if args.names:
        missing = [n for n in args.names if n not in ops]
        if missing:
            raise UsageError(f"not a TF.js op: {', '.join(missing)}", hint="`tfjsconv ops` lists them all")
        defs = [dataclasses.asdict(ops.get(n)) for n in args.names]
        print(json.dumps(defs, indent=2, default=str))
        return 0
    by_category = ops.categories()
    if args.json:
        print(json.dumps(by_category, indent=2))
        return 0
    for category, names in sorted(by_category.items()):
        print(f"{category} ({len(names)}): {', '.join(names)}")
    print(f"\n{len(ops)} ops in {len(by_category)} categories")
    return 0
