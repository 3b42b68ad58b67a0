"""Conversion speed of every input path, tfjsconv against the official converter, alternated in one run.

    .venv/bin/python bench/conversion_speed.py [--rounds 3] [--cases keras_h5_layers,onnx] [--sizes small,large]

Every model is built here with random weights (nothing downloaded) and cached in ``bench/.cache/``:
Keras ``.h5`` (tf_keras) to layers and to graph models, Keras 3 ``.keras``, SavedModel (tf_keras),
frozen ``.pb`` (frozen from that SavedModel), ONNX (a tiny CNN and a ResNet-50-sized network exported
from torch, with shapes) and a PyTorch ``.pt2``; small and large. Each conversion runs as a fresh
process; in each round tfjsconv and the official converter (tensorflowjs 4.22 from
``bench/setup_official_converter.sh``, or ``$TFJS_OFFICIAL_CONVERTER``) take turns, so a busy spell
hits both, and the order rotates each round, so no converter always runs right after another. The table gives median wall seconds, the median ratio official / tfjsconv (how many times
faster tfjsconv is), and peak RSS (``getrusage(RUSAGE_CHILDREN)`` of a one-child probe, the largest
over the rounds). onnx2tf is measured too where ``bench/setup_onnx2tf.sh`` has installed it.
Results: ``bench/results/conversion_speed.{json,md}``, with the command line and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from keras_vs_official import build_h5, measure, official_converter  # noqa: E402
from savedmodel_vs_official import build_saved_model  # noqa: E402
from startup import with_bytecode_cache  # noqa: E402

CACHE = HERE / ".cache"
OURS = [sys.executable, "-m", "tfjsconv", "convert", "--quiet"]
ONNX2TF = HERE / ".venv-onnx2tf" / "bin" / "onnx2tf"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
#: Keras application per size (tf_keras and Keras 3 builds, random weights).
KERAS_APP = {"small": "MobileNetV2", "large": "ResNet50"}


def _python(code: str, *args: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, env={**ENV, **(env or {})})


def keras_h5(size: str) -> Path:
    return build_h5(KERAS_APP[size])


def keras3_file(size: str) -> Path:
    path = CACHE / f"{KERAS_APP[size]}.keras3.keras"
    if not path.is_file():
        _python("import sys, keras; getattr(keras.applications, sys.argv[1])(weights=None).save(sys.argv[2])",
                KERAS_APP[size], str(path))
    return path


def saved_model(size: str) -> Path:
    path = CACHE / f"{KERAS_APP[size]}_tf_keras"
    if not (path / "saved_model.pb").is_file():
        shutil.rmtree(path, ignore_errors=True)
        built = build_saved_model(KERAS_APP[size], "tf_keras", CACHE)
        assert built == path, built
    return path


FREEZE = r"""
import sys, tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
loaded = tf.saved_model.load(sys.argv[1])  # keeps the variables alive
fn = loaded.signatures["serving_default"]
frozen = convert_variables_to_constants_v2(fn)
tf.io.write_graph(frozen.graph.as_graph_def(), ".", sys.argv[2], as_text=False)
print(",".join(t.op.name for t in frozen.outputs))
"""


def frozen_pb(size: str) -> tuple[Path, str]:
    """A frozen GraphDef of the SavedModel, and its output node names (the official converter asks for them)."""
    path = CACHE / f"{KERAS_APP[size]}_frozen.pb"
    names = path.with_suffix(".outputs")
    if not path.is_file() or not names.is_file():
        out = subprocess.run([sys.executable, "-c", FREEZE, str(saved_model(size)), str(path)], check=True,
                             capture_output=True, text=True, env=ENV)
        names.write_text(out.stdout.strip().splitlines()[-1])
    return path, names.read_text().strip()


EXPORT = r"""
import sys, warnings, torch, onnx
import torch_models
kind, path = sys.argv[1:]
if kind == "tiny":
    module, args = torch_models.plain_cnn("test")
else:  # ResNet-50 (bottleneck blocks 3-4-6-3, 25.6 M parameters), random weights
    from transformers import ResNetConfig, ResNetModel
    torch.manual_seed(0)
    module, args = torch_models._hf_wrapper(ResNetModel(ResNetConfig()).eval(), "pooler_output"), (torch.randn(1, 3, 224, 224),)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if path.endswith(".pt2"):  # without pickled sample inputs, which tfjsconv refuses by default
        program = torch.export.export(module, args)
        program.example_inputs = None
        torch.export.save(program, path)
    else:  # the legacy exporter, then the shapes the dynamo exporter would also write
        torch.onnx.export(module, args, path, dynamo=False, opset_version=17, input_names=["x"])
        onnx.save(onnx.shape_inference.infer_shapes(onnx.load(path)), path)
"""


def torch_file(size: str, suffix: str) -> Path:
    path = CACHE / f"{'tiny_cnn' if size == 'small' else 'resnet50'}_torch{suffix}"
    if not path.is_file():
        _python(EXPORT, "tiny" if size == "small" else "resnet50", str(path),
                env={"PYTHONPATH": str(ROOT / "tests")})
    return path


def cases(sizes: list[str]) -> list[dict]:
    """name, size, input file, our arguments, the official converter's arguments (None: it has no such path)."""
    found = []
    for size in sizes:
        h5 = keras_h5(size)
        found.append(dict(case="keras_h5_layers", size=size, source=h5, ours=[], official=["--input_format=keras"]))
        found.append(dict(case="keras_h5_graph", size=size, source=h5, ours=["--output_format", "tfjs_graph_model"],
                          official=["--input_format=keras", "--output_format=tfjs_graph_model"],
                          traced=["--output_format", "tfjs_graph_model", "--loader", "tensorflow"]))
        found.append(dict(case="keras3_keras", size=size, source=keras3_file(size), ours=[],
                          official=["--input_format=keras_keras", "--output_format=tfjs_layers_model"]))
        found.append(dict(case="saved_model", size=size, source=saved_model(size), ours=[],
                          official=["--input_format=tf_saved_model"]))
        pb, outputs = frozen_pb(size)
        found.append(dict(case="frozen_pb", size=size, source=pb, ours=["--output_node_names", outputs],
                          official=["--input_format=tf_frozen_model", f"--output_node_names={outputs}"]))
        found.append(dict(case="onnx", size=size, source=torch_file(size, ".onnx"), ours=[], official=None))
        if size == "small":  # the large one would time torch.export more than tfjsconv
            found.append(dict(case="pytorch_pt2", size=size, source=torch_file(size, ".pt2"), ours=[], official=None))
    return found


def median_of(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["rc"] == 0]
    if len(ok) < len(runs):
        bad = next(r for r in runs if r["rc"] != 0)
        return {"error": (bad["stderr"].strip().splitlines() or ["failed"])[-1][:300]}
    return {"median_s": round(statistics.median(r["seconds"] for r in ok), 3),
            "median_cpu_s": round(statistics.median(r["cpu_seconds"] for r in ok), 3),
            "runs_s": [round(r["seconds"], 3) for r in ok], "peak_rss_mb": round(max(r["rss_mb"] for r in ok), 1)}


_WARM: set[tuple[str, str]] = set()


def bench_case(case: dict, rounds: int, official: str | None, work: Path, trees: dict[str, str] | None = None) -> dict:
    commands = {"tfjsconv": [*OURS, *case["ours"], str(case["source"]), str(work / "ours")]}
    for label, tree in (trees or {}).items():  # another checkout of tfjsconv, first on PYTHONPATH
        commands[f"tfjsconv@{label}"] = ["env", f"PYTHONPATH={tree}", *OURS, *case["ours"], str(case["source"]),
                                         str(work / "ours")]
    if case.get("traced"):  # the same conversion through tfjsconv's TensorFlow tracer (issue 16's baseline)
        commands["traced"] = [*OURS, *case["traced"], str(case["source"]), str(work / "ours")]
    if official and case["official"] is not None:
        commands["official"] = [official, *case["official"], str(case["source"]), str(work / "official")]
    if case["case"] == "onnx" and ONNX2TF.exists():
        commands["onnx2tf"] = [str(ONNX2TF), "-i", str(case["source"]), "-o", str(work / "onnx2tf")]
    runs: dict[str, list[dict]] = {k: [] for k in commands}
    for name, command in commands.items():  # warm-up, once per converter and input path: bytecode cache
        if (name, case["case"]) not in _WARM:
            _WARM.add((name, case["case"]))
            for folder in ("ours", "official", "onnx2tf"):
                shutil.rmtree(work / folder, ignore_errors=True)
            measure(command)
    names = list(commands)
    for index in range(rounds):  # alternate, so that load from other jobs hits every converter alike
        # Rotate who goes first: a run right after the official converter pays for the memory it just freed
        # (page faults on a VM whose balloon reclaimed it), so no converter should always follow it.
        for name in names[index % len(names):] + names[:index % len(names)]:
            command = commands[name]
            for folder in ("ours", "official", "onnx2tf"):
                shutil.rmtree(work / folder, ignore_errors=True)
            runs[name].append(measure(command))
    row = {"case": case["case"], "size": case["size"], "input_mb": round(_size(case["source"]) / 1e6, 1)}
    row.update({name: median_of(r) for name, r in runs.items()})
    for other in ("official", "traced", "onnx2tf", *(f"tfjsconv@{label}" for label in trees or {})):
        if "median_s" in row.get(other, {}) and "median_s" in row["tfjsconv"]:
            ratios = [b["seconds"] / a["seconds"] for a, b in zip(runs["tfjsconv"], runs[other])]
            row[f"{other}_over_tfjsconv"] = round(statistics.median(ratios), 2)
            cpu = [b["cpu_seconds"] / a["cpu_seconds"] for a, b in zip(runs["tfjsconv"], runs[other])]
            row[f"{other}_over_tfjsconv_cpu"] = round(statistics.median(cpu), 2)
    return row


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _cell(run: dict | None) -> str:
    if run is None:
        return "–"
    if "error" in run:
        return f"failed: {run['error'][:80]}"
    return f"{run['median_s']:.2f} s ({run['median_cpu_s']:.2f} s CPU), {run['peak_rss_mb']:.0f} MB"


def table(rows: list[dict]) -> str:
    lines = ["| input path | size | input MB | tfjsconv: median wall (CPU), peak RSS | official | "
             "official / tfjsconv: wall (CPU) |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = (f"**{r['official_over_tfjsconv']:.1f}x** ({r['official_over_tfjsconv_cpu']:.1f}x)"
                 if "official_over_tfjsconv" in r else "–")
        lines.append(f"| {r['case']} | {r['size']} | {r['input_mb']} | {_cell(r['tfjsconv'])} | "
                     f"{_cell(r.get('official'))} | {ratio} |")
        for key in [k for k in r if k.startswith(("tfjsconv@", "traced")) and not k.endswith(("_tfjsconv", "_cpu"))]:
            theirs = (f"**{r[key + '_over_tfjsconv']:.1f}x** ({r[key + '_over_tfjsconv_cpu']:.1f}x)"
                      if key + "_over_tfjsconv" in r else "–")
            lines.append(f"| ↳ {key} | | | | {_cell(r[key])} | {theirs} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    parser.add_argument("--sizes", default="small,large")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "conversion_speed")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                        help="also time the tfjsconv package under DIR (e.g. the last commit), alternated")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    bytecode = with_bytecode_cache()
    official = official_converter()
    wanted = set(args.cases.split(",")) if args.cases else None
    selected = [c for c in cases(args.sizes.split(",")) if wanted is None or c["case"] in wanted]
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tfjsconv-speed-") as tmp:
        for case in selected:
            rows.append(bench_case(case, args.rounds, official, Path(tmp), dict(t.split("=", 1) for t in args.tree)))
            print(json.dumps(rows[-1]), flush=True)
            _write(args, rows, official, bytecode, started, load_before)  # partial results survive
    print(table(rows))
    return 0


def _write(args: argparse.Namespace, rows: list[dict], official: str | None, bytecode: str, started: str,
           load_before: tuple[float, float, float]) -> None:
    command = " ".join([".venv/bin/python", "bench/conversion_speed.py", *sys.argv[1:]])
    doc = {"command": command, "started": started, "rounds": args.rounds,
           "machine": f"{os.cpu_count()} cores, {platform.platform()}, shared with other engineers' jobs",
           "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()],
           "official": official and "tensorflowjs 4.22.0", "bytecode": bytecode, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    header = (f"# Conversion speed: tfjsconv vs the official converter (tensorflowjs 4.22)\n\n`{command}` "
              f"({started}; {args.rounds} alternating rounds; medians; load average "
              f"{doc['load_average_before'][0]:.1f} before, {doc['load_average_after'][0]:.1f} after, on "
              f"{os.cpu_count()} cores shared with other engineers' jobs, so absolute times are inflated; {bytecode}).\n\n")
    args.out.with_suffix(".md").write_text(header + table(rows) + "\n")


if __name__ == "__main__":
    sys.exit(main())
