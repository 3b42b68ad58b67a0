"""``tfjsconv plugins``: which plugins are loaded, from which distribution, with which hooks."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .report import table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("plugins", help="list loaded plugins and what they provide")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..plugin_manager import get_plugin_manager

    pm = get_plugin_manager()
    reg = pm.registry
    plugins = [
        {"name": p.name, "version": p.version, "module": p.module, "hooks": p.hooks} for p in pm.plugins()
    ]
    provided = {
        "input_formats": {name: f.description for name, f in sorted(reg.frontends.items())},
        "output_formats": {name: w.description for name, w in sorted(reg.writers.items())},
        "passes": sorted(p.name for p in reg.passes),
        "custom_ops": sorted(op.name for op in reg.ops),
    }
    if args.json:
        # counting op mappings loads every frontend's op modules: only the machine-readable listing does
        print(json.dumps({"plugins": plugins, **provided, "op_mappings": len(reg.op_mappings)}, indent=2))
        return 0
    rows = [[p["name"], p["version"] or "(core)", ", ".join(p["hooks"]) or "-"] for p in plugins]
    print(table(["plugin", "version", "hooks"], rows))
    print()
    print("input formats: " + (", ".join(provided["input_formats"]) or "none"))
    print("output formats: " + ", ".join(provided["output_formats"]))
    print("passes: " + (", ".join(provided["passes"]) or "none"))
    if provided["custom_ops"]:
        print("custom ops: " + ", ".join(provided["custom_ops"]))
    return 0
