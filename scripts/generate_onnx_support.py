#!/usr/bin/env python3
"""Regenerate the list of supported ONNX ops and opsets in ``docs/onnx.md`` from the mapping registry.

Why generated: the ops are whatever ``@onnx_op`` mappings the plugin registers
(``tfjsconv.plugins.onnx.mapping.builtin_mappings``), and several people add them; a hand-kept
list drifts. The section between the two markers below is replaced; the rest of the page is
left alone. ``--check`` exits 1 when the section is stale (a test runs it).

Usage::

    python scripts/generate_onnx_support.py           # rewrite the section
    python scripts/generate_onnx_support.py --check   # exit 1 if it is out of date
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # doc_section sits beside this script, however it is run
import doc_section  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOC = REPO_ROOT / "docs" / "onnx.md"
BEGIN = "<!-- BEGIN generated: ONNX ops and opsets (scripts/generate_onnx_support.py) -->"
END = "<!-- END generated: ONNX ops and opsets -->"


def render() -> str:
    """The generated section, markers included."""
    from tfjsconv.plugins.onnx.mapping import builtin_mappings
    from tfjsconv.plugins.onnx.reading import MAX_OPSET, MIN_OPSET

    mappings = builtin_mappings()
    lines = [BEGIN, "",
             f"Standard-domain (`ai.onnx`) opsets **{MIN_OPSET} to {MAX_OPSET}** (older models when each of their ops "
             f"has the schema it had at opset {MIN_OPSET}). {len(mappings)} op types have a mapping; an op is "
             "converted at any opset from the first one listed, and where several are listed, each starts a "
             "mapping version written for the schema of that opset on. A node a mapping cannot express "
             "(an attribute value, dtype or run-time input TF.js lacks) is still refused with a message.", "",
             "| ONNX op | opsets | | ONNX op | opsets |", "|---|---|---|---|---|"]
    rows = [(op, ", ".join(f"{v}+" if k == 0 else str(v) for k, v in enumerate(mappings[op].since_versions)))
            for op in sorted(mappings, key=str.lower)]
    half = (len(rows) + 1) // 2
    for left, right in zip(rows[:half], rows[half:] + [("", "")]):
        cells = [f"`{left[0]}`", left[1], "", f"`{right[0]}`" if right[0] else "", right[1]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` only check) the generated section."""
    return doc_section.main(argv, description=__doc__.splitlines()[0], default_doc=DEFAULT_DOC, begin=BEGIN,
                            end=END, render=render, what="ONNX ops section", script="scripts/generate_onnx_support.py")


if __name__ == "__main__":
    sys.exit(main())
