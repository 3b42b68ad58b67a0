"""Keras applications -> graph models: the h5py lowering against the TF-traced path, node by node.

    .venv/bin/python bench/keras_applications.py [--apps ResNet50,VGG16] [--flavors keras3.keras,tf_keras.h5]
        [--resnet-rounds 3] [--no-verify] [--out bench/results]

Each ``keras.applications`` model is built with random weights (``weights=None``, nothing downloaded;
BatchNorm statistics randomized too, so folding them is checked), at a small input size and with 10
classes, in Keras 3 (``.keras``) and tf_keras (``.h5``); the file, inputs and Keras's outputs
(``model.predict``) are cached in ``bench/.cache/apps/``. Each file is converted to a graph model
twice, each a fresh CLI process: through the lowering (the default) and through TensorFlow
(``--loader=tensorflow``). Per conversion: wall and CPU seconds, the nodes of the written
``model.json`` by op (after the passes), and the largest error against Keras in TF.js cpu, relative
to the output range (``max_rel_err``, checked at 1e-5).

The ResNet50 figure of issue 16 is a separate section: the tf_keras ResNet50 ``.h5`` at 224x224 with
1000 classes, both paths alternated for ``--resnet-rounds`` rounds in the same run (median wall), after
one unmeasured warm-up each. Bytecode is cached (``startup.with_bytecode_cache``) as an installed package
has it; this machine sets PYTHONDONTWRITEBYTECODE, which would add seconds of compiling to every process.
Results: ``<out>/keras_applications.{json,md}``, with the command line and the load average.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from keras_vs_official import build_h5, measure  # noqa: E402
from startup import with_bytecode_cache  # noqa: E402

CACHE = HERE / ".cache" / "apps"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
OURS = [sys.executable, "-m", "tfjsconv", "convert", "--quiet", "--output_format", "tfjs_graph_model"]
TRACED = ["--loader", "tensorflow"]
FLAVORS = ("keras3.keras", "tf_keras.h5")
RTOL = 1e-5
#: Application -> the smallest input side it builds at (most accept 32).
APPS = {"MobileNet": 32, "MobileNetV2": 32, "MobileNetV3Small": 32, "MobileNetV3Large": 32, "ResNet50": 32,
        "ResNet50V2": 32, "DenseNet121": 32, "EfficientNetB0": 32, "EfficientNetV2B0": 32, "InceptionV3": 75,
        "Xception": 71, "NASNetMobile": 32, "ConvNeXtTiny": 32, "RegNetX002": 32, "VGG16": 32}
NOT_CONST = ("Const", "Placeholder")

BUILD = r"""
import importlib, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from keras_matrix import _randomize
app, flavor, side, path, io = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
k = importlib.import_module("keras" if flavor.startswith("keras3") else "tf_keras")
k.utils.set_random_seed(0)
model = getattr(k.applications, app)(weights=None, input_shape=(side, side, 3), classes=10)
_randomize(model, 0)
model.save(path)
model = k.models.load_model(path, compile=False)
x = np.random.default_rng(1).uniform(-1, 1, (2, side, side, 3)).astype("float32")
y = np.asarray(model.predict(x, verbose=0))
np.savez(io, x=x, y=y)
"""


def build(app: str, flavor: str) -> tuple[Path, dict[str, np.ndarray]]:
    """The saved application (cached) and its input/output pair from Keras."""
    folder = CACHE / f"{app}.{flavor}"
    path, io = folder / f"model{flavor[flavor.index('.'):]}", folder / "io.npz"
    if not io.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        proc = subprocess.run([sys.executable, "-c", BUILD, str(HERE), app, flavor, str(APPS[app]), str(path), str(io)],
                              capture_output=True, text=True, env=ENV)
        if proc.returncode:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"building {app} ({flavor}) failed: {proc.stderr.strip().splitlines()[-1:]}")
    data = np.load(io)
    return path, {"x": data["x"], "y": data["y"]}


def nodes_by_op(model_dir: Path) -> dict[str, int]:
    """Nodes of the written graph model by op, largest first."""
    nodes = json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]
    return dict(collections.Counter(n["op"] for n in nodes).most_common())


def verify(model_dir: Path, io: dict[str, np.ndarray]) -> dict:
    from tfjsconv.verify.compare import verify_model

    name = next(iter(json.loads((model_dir / "model.json").read_text())["signature"]["inputs"]))
    report = verify_model(model_dir, {name: io["x"]}, {"output": io["y"]}, backends=("cpu",), rtol=RTOL, quiet=True)
    result = {"passed": report.passed, "max_rel_err": max((c.max_rel_err or 0.0) for c in report.comparisons)}
    if not report.passed:
        result["error"] = "; ".join(c.problem or f"max_rel_err {c.max_rel_err:.1e}" for c in report.comparisons)[:400]
    return result


def convert(source: Path, out: Path, extra: list[str], io: dict | None) -> dict:
    """One conversion as a fresh process: seconds, CPU seconds, nodes by op, error against Keras in TF.js cpu."""
    shutil.rmtree(out, ignore_errors=True)
    run = measure([*OURS, *extra, str(source), str(out)])
    if run["rc"] != 0:
        lines = run["stderr"].strip().splitlines() or ["failed"]
        return {"error": next((line for line in lines if line.startswith("Error")), "…" + lines[0][-300:])[:300]}
    ops = nodes_by_op(out)
    row = {"seconds": round(run["seconds"], 2), "cpu_seconds": round(run["cpu_seconds"], 2),
           "nodes": sum(ops.values()), "compute_nodes": sum(v for k, v in ops.items() if k not in NOT_CONST),
           "ops": ops}
    if io is not None:
        row.update(verify(out, io))
    return row


def compare_app(app: str, flavor: str, work: Path, check: bool) -> dict:
    row: dict = {"app": app, "flavor": flavor, "side": APPS[app]}
    try:
        source, io = build(app, flavor)
    except RuntimeError as err:
        return {**row, "error": str(err)}
    row["lowered"] = convert(source, work / "lowered", [], io if check else None)
    row["traced"] = convert(source, work / "traced", TRACED, io if check else None)
    return row


def resnet_speed(rounds: int, work: Path) -> dict:
    """ResNet50 .h5 (tf_keras, 224x224, 1000 classes) -> graph model, both paths alternated round by round."""
    h5 = build_h5("ResNet50")
    runs: dict[str, list[dict]] = {"lowered": [], "traced": []}
    for path, extra in (("lowered", []), ("traced", TRACED)):  # unmeasured warm-up: bytecode, disk cache
        convert(h5, work / path, extra, None)
    for _ in range(rounds):
        for path, extra in (("lowered", []), ("traced", TRACED)):
            runs[path].append(convert(h5, work / path, extra, None))
    result: dict = {"source": str(h5.relative_to(HERE.parent)), "h5_mb": round(h5.stat().st_size / 1e6, 1),
                    "rounds": rounds, "load_average": " ".join(f"{v:.1f}" for v in os.getloadavg())}
    for path, rows in runs.items():
        failed = [r for r in rows if "error" in r]
        if failed:
            result[path] = {"error": failed[0]["error"]}
            continue
        result[path] = {"median_s": round(statistics.median(r["seconds"] for r in rows), 2),
                        "best_s": min(r["seconds"] for r in rows),
                        "median_cpu_s": round(statistics.median(r["cpu_seconds"] for r in rows), 2),
                        "seconds": [r["seconds"] for r in rows], "nodes": rows[0]["nodes"]}
    if "median_s" in result["lowered"] and "median_s" in result["traced"]:
        result["speedup"] = round(result["traced"]["median_s"] / result["lowered"]["median_s"], 1)
    return result


def _cell(side: dict, key: str, fmt: str = "{}") -> str:
    return fmt.format(side[key]) if key in side else "-"


def markdown(rows: list[dict], resnet: dict | None, command: str, load: str, bytecode: str) -> str:
    lines = ["# Keras applications: lowering vs TF-traced graph models", "",
             f"`{command}` (load average at start: {load}; {bytecode}). Each conversion is a fresh CLI process "
             "(`python -m tfjsconv convert`), its wall and CPU seconds include start-up. Random weights, 10 classes, input side as listed; "
             "nodes are those of the written model.json (after the passes); error: max |TF.js cpu - Keras| / "
             "max |Keras|.", "",
             "| application | flavor | side | nodes lowered / traced | compute nodes lowered / traced | "
             "convert s lowered / traced | CPU s lowered / traced | error lowered / traced |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['app']} | {r['flavor']} | {r['side']} | build failed: {r['error']} | | | | |")
            continue
        low, tr = r["lowered"], r["traced"]
        if "error" in low or "error" in tr:
            lines.append(f"| {r['app']} | {r['flavor']} | {r['side']} | lowered: {low.get('error', 'ok')}; "
                         f"traced: {tr.get('error', tr.get('nodes'))} | - / {_cell(tr, 'compute_nodes')} | "
                         f"- / {_cell(tr, 'seconds')} | - / {_cell(tr, 'cpu_seconds')} | "
                         f"- / {_cell(tr, 'max_rel_err', '{:.1e}')} |")
            continue
        flag = " **more**" if low["nodes"] > tr["nodes"] else ""
        lines.append(f"| {r['app']} | {r['flavor']} | {r['side']} | {low['nodes']} / {tr['nodes']}{flag} | "
                     f"{low['compute_nodes']} / {tr['compute_nodes']} | {low['seconds']} / {tr['seconds']} | "
                     f"{low['cpu_seconds']} / {tr['cpu_seconds']} | {_cell(low, 'max_rel_err', '{:.1e}')} / "
                     f"{_cell(tr, 'max_rel_err', '{:.1e}')} |")
    if resnet:
        low, tr = resnet["lowered"], resnet["traced"]
        lines += ["", f"## ResNet50 `.h5` (tf_keras, 224x224, {resnet['h5_mb']} MB) -> graph model, "
                      f"{resnet['rounds']} rounds alternated (load average at start: {resnet.get('load_average', '-')})", "",
                  "| path | median wall s | best s | median CPU s | nodes |", "|---|---|---|---|---|"]
        for name, side in (("lowering (default)", low), ("traced (`--loader=tensorflow`)", tr)):
            lines.append(f"| {name} | {_cell(side, 'median_s')} | {_cell(side, 'best_s')} | "
                         f"{_cell(side, 'median_cpu_s')} | {_cell(side, 'nodes', '{}')} |"
                         if "error" not in side else f"| {name} | failed: {side['error']} | | | |")
        if "speedup" in resnet:
            cpu = round(tr["median_cpu_s"] / low["median_cpu_s"], 1)
            lines += ["", f"Speed-up (median traced / median lowered): {resnet['speedup']}x wall, {cpu}x CPU."]
    return "\n".join(lines) + "\n"


def _merged(old: dict, rows: list[dict], resnet: dict | None, command: str) -> tuple[list[dict], dict | None, str]:
    """This run's rows in place of the same (application, flavor) rows of an earlier run, in APPS order."""
    new = {(r["app"], r["flavor"]): r for r in rows}
    kept = {(r["app"], r["flavor"]): r for r in old["applications"]}
    kept.update(new)
    order = {(a, f): i for i, (a, f) in enumerate((a, f) for a in APPS for f in FLAVORS)}
    command = f"{old['command']}, then {command}"
    return sorted(kept.values(), key=lambda r: order.get((r["app"], r["flavor"]), 1 << 30)), resnet or \
        old.get("resnet50_speed"), command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--flavors", default=",".join(FLAVORS))
    parser.add_argument("--resnet-rounds", type=int, default=3, help="0 skips the ResNet50 speed section")
    parser.add_argument("--no-verify", action="store_true", help="skip running the models in TF.js")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--merge", action="store_true",
                        help="keep the other rows (and the ResNet50 section, unless measured) of <out>'s JSON")
    args = parser.parse_args()
    command = shlex.join(["bench/keras_applications.py", *sys.argv[1:]])
    bytecode = with_bytecode_cache()
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-keras-apps-"))
    rows = []
    resnet = None
    try:
        if args.resnet_rounds:
            resnet = resnet_speed(args.resnet_rounds, work)
            print(json.dumps({k: v for k, v in resnet.items()}), flush=True)
        for app in [a for a in args.apps.split(",") if a]:  # --apps "" measures ResNet50 alone
            for flavor in args.flavors.split(","):
                row = compare_app(app, flavor, work, not args.no_verify)
                rows.append(row)
                low, tr = row.get("lowered", {}), row.get("traced", {})
                print(f"{app:<17} {flavor:<13} nodes {low.get('nodes', '-')!s:>5} / {tr.get('nodes', '-')!s:<5} "
                      f"s {low.get('seconds', '-')} / {tr.get('seconds', '-')}  "
                      f"err {low.get('max_rel_err', low.get('error', '-'))} / {tr.get('max_rel_err', tr.get('error', '-'))}"
                      + (f"  {row['error']}" if "error" in row else ""), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge and (out / "keras_applications.json").is_file():
        old = json.loads((out / "keras_applications.json").read_text())
        rows, resnet, command = _merged(old, rows, resnet, command)
        load = f"{old['load_average']}, then {load}"
    payload = {"command": command, "load_average": load, "bytecode": bytecode, "applications": rows,
               "resnet50_speed": resnet}
    (out / "keras_applications.json").write_text(json.dumps(payload, indent=2))
    (out / "keras_applications.md").write_text(markdown(rows, resnet, command, load, bytecode))
    bad = [r for r in rows if "error" in r or "error" in r["lowered"] or r["lowered"].get("passed") is False
           or ("nodes" in r["traced"] and r["lowered"]["nodes"] > r["traced"]["nodes"])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
