#!/usr/bin/env python3
"""Regenerate the table of Keras layers the graph-model lowering covers in ``docs/keras.md`` from its registry.

Why generated: the layers are whatever ``@lowers(...)`` registrations the modules of
``tfjsconv.plugins.keras.lowering`` make, and several people add them; a hand-kept list drifts. The
section between the two markers below is replaced; the rest of the page (option notes per family)
is left alone. ``--check`` exits 1 when the section is stale (a test runs it).

Usage::

    python scripts/generate_keras_support.py           # rewrite the section
    python scripts/generate_keras_support.py --check   # exit 1 if it is out of date
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # doc_section sits beside this script, however it is run
import doc_section  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOC = REPO_ROOT / "docs" / "keras.md"
BEGIN = "<!-- BEGIN generated: Keras layers the lowering covers (scripts/generate_keras_support.py) -->"
END = "<!-- END generated: Keras layers the lowering covers -->"


def _family(lowering) -> str:
    """The module that registered a lowering (through wrappers such as the channels_first one)."""
    fn = inspect.unwrap(lowering.lower)
    return fn.__module__.rsplit(".", 1)[-1]


def render() -> str:
    """The generated section, markers included."""
    from tfjsconv.plugins.keras.lowering.op_layers import KERAS_OPS, TF_FUNCTIONS
    from tfjsconv.plugins.keras.lowering.registry import loaded_lowerings
    from tfjsconv.plugins.keras.op_calls import KERAS_OP_PREFIX

    lowerings = loaded_lowerings()
    families: dict[str, list[str]] = {}
    for name, lowering in lowerings.items():
        if not name.startswith(KERAS_OP_PREFIX):
            families.setdefault(_family(lowering), []).append(name)
    layers = sum(len(v) for v in families.values())
    functions = sorted(TF_FUNCTIONS)
    lines = [BEGIN, "",
             f"{layers} layer classes, {len(functions)} tf_keras op-layer functions and {len(KERAS_OPS)} Keras 3 "
             "operations have a lowering. A layer option or argument a lowering does not cover is still a "
             "gap, named with the layer.", "",
             "| module | layer classes |", "|---|---|"]
    for family in sorted(families):
        lines.append(f"| `{family}.py` | {', '.join(f'`{n}`' for n in sorted(families[family], key=str.lower))} |")
    tf_functions = ", ".join(f"`{n}`" for n in functions)
    keras_ops = ", ".join(f"`{n}`" for n in sorted(KERAS_OPS))
    lines += [f"| `op_layers.py`: tf_keras `TFOpLambda` / `SlicingOpLambda` functions | {tf_functions} |",
              f"| `op_layers.py`: Keras 3 operations (`keras.ops.*` on symbolic tensors) | {keras_ops} |",
              "", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` only check) the generated section."""
    return doc_section.main(argv, description=__doc__.splitlines()[0], default_doc=DEFAULT_DOC, begin=BEGIN,
                            end=END, render=render, what="Keras lowering section", script="scripts/generate_keras_support.py")


if __name__ == "__main__":
    sys.exit(main())
