"""The results files of the random graph hunters (``tf_random_graphs.py``, ``onnx_random_graphs.py``): one writer,
so both keep the same layout (a JSON of every case, a Markdown of the counts and each non-pass case)."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

Case = dict[str, Any]


def write_results(stem: Path, title: str, results: list[Case], seed: int, command: str,
                  describe: Callable[[Case], str]) -> Path:
    """``<stem>.json`` (command, seed, counts, results) and ``<stem>.md``: the counts, then one line per non-pass
    case, ``- **index** <describe(case)> — <why>`` (``describe`` names the verdict and the graph's steps)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    counts = Counter(r["verdict"] for r in results)
    stem.with_suffix(".json").write_text(json.dumps({"command": command, "seed": seed, "counts": counts,
                                                     "results": results}, indent=1, default=str))
    lines = [f"# {title}, seed {seed}", "", f"Command: `{command}`", "",
             "| verdict | count |", "|---|---:|", *[f"| {k} | {v} |" for k, v in sorted(counts.items())], ""]
    for r in results:
        if r["verdict"] != "pass":
            why = str(r.get("why", "")).replace("|", "/").replace("\n", " ")[:500]
            lines.append(f"- **{r['index']}** {describe(r)} — {why}")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem


def markdown_from_json(json_path: Path, title: str, describe: Callable[[Case], str], out_stem: Path) -> Path:
    """Rewrite a saved run's files from its JSON under ``out_stem`` (to check the layout did not change)."""
    saved = json.loads(json_path.read_text())
    return write_results(out_stem, title, saved["results"], saved["seed"], saved["command"], describe)
