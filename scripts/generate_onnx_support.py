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

import argparse
import sys
from pathlib import Path

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


def updated(text: str, section: str) -> str:
    """``text`` with its generated section replaced (appended when the markers are missing)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    return text[:start] + section + text[end + len(END):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="the page to update (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the section is out of date")
    args = parser.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    new = updated(text, render())
    if args.check:
        if new == text:
            print(f"{args.doc}: the ONNX ops section is up to date")
            return 0
        print(f"{args.doc}: the ONNX ops section is out of date; run scripts/generate_onnx_support.py",
              file=sys.stderr)
        return 1
    if new != text:
        args.doc.write_text(new, encoding="utf-8")
    print(f"{args.doc}: ONNX ops section written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
