"""Start-up cost of the CLI with lazy plugins (issue 17, item 1): wall time and imports per command.

Each command runs in a fresh process, best and median of ``--repeat`` wall times (trees alternated); ``python -X importtime`` gives
the modules it imports. ``--tree DIR`` measures another checkout (a folder holding a ``tfjsconv``
package, put first on PYTHONPATH), e.g. the last commit unpacked with ``git archive`` for a
before/after comparison in one run. The numbers floor is ``python -c "import numpy"``.

    .venv/bin/python bench/lazy_plugins.py [--repeat 5] [--tree before=/tmp/before/pkg] [--output FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TFJSCONV = str(Path(sys.executable).parent / "tfjsconv")


def tiny_models(folder: Path) -> dict[str, Path]:
    """A tiny tf_keras-layout .h5 (Input -> Dense, written with h5py) and a tiny ONNX CNN (Conv, Relu, pool)."""
    import h5py
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    h5 = folder / "tiny.h5"
    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 3], "dtype": "float32", "name": "x"}},
        {"class_name": "Dense", "name": "dense", "inbound_nodes": [[["x", 0, 0, {}]]],
         "config": {"name": "dense", "units": 2, "activation": "relu", "use_bias": True, "dtype": "float32"}}],
        "input_layers": [["x", 0, 0]], "output_layers": [["dense", 0, 0]]}}
    with h5py.File(h5, "w") as f:
        f.attrs.update(backend="tensorflow", keras_version="2.15.0", model_config=json.dumps(config))
        weights = f.create_group("model_weights")
        weights.attrs.update(backend="tensorflow", keras_version="2.15.0", layer_names=["x", "dense"])
        weights.create_group("x").attrs["weight_names"] = np.array([], dtype="S1")
        dense = weights.create_group("dense")
        dense.attrs["weight_names"] = ["dense/kernel:0", "dense/bias:0"]
        dense["dense/kernel:0"] = rng.standard_normal((3, 2)).astype(np.float32)
        dense["dense/bias:0"] = rng.standard_normal(2).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 1, 1])],
                              [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
                               numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx_path = folder / "tiny.onnx"
    onnx.save(model, str(onnx_path))
    return {"h5": h5, "onnx": onnx_path}


def commands(models: dict[str, Path], out: Path) -> dict[str, list[str]]:
    return {
        "floor: python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "tfjsconv --help": [TFJSCONV, "--help"],
        "tfjsconv plugins": [TFJSCONV, "plugins"],
        "tfjsconv convert --help": [TFJSCONV, "convert", "--help"],
        "tiny .h5 -> layers": [TFJSCONV, str(models["h5"]), str(out / "h5"), "--overwrite", "--quiet"],
        "tiny ONNX -> graph": [TFJSCONV, str(models["onnx"]), str(out / "onnx"), "--overwrite", "--quiet"],
    }


def one_run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return seconds


def imports(argv: list[str], env: dict[str, str]) -> dict[str, object]:
    """Modules imported (``-X importtime``): counts, import seconds, and the heavy families present."""
    runner = [sys.executable, "-X", "importtime", *argv[1:]] if argv[0] == sys.executable else \
        [sys.executable, "-X", "importtime", "-m", "tfjsconv", *argv[1:]]
    err = subprocess.run(runner, env=env, check=True, capture_output=True, text=True).stderr
    rows = [line.split("|") for line in err.splitlines() if line.startswith("import time:") and "self [us]" not in line]
    names = [r[2].strip() for r in rows]
    self_us = sum(int(r[0].split(":")[1]) for r in rows)
    tfjsconv = [n for n in names if n.startswith("tfjsconv")]
    return {
        "modules": len(names),
        "import_seconds": round(self_us / 1e6, 3),
        "tfjsconv_modules": len(tfjsconv),
        "pass_modules": sum(n.startswith("tfjsconv.passes.") for n in tfjsconv),
        "onnx_op_modules": sum(n.startswith("tfjsconv.plugins.onnx.ops") for n in tfjsconv),
        "interpreter": any(n.startswith("tfjsconv.interpreter") for n in tfjsconv),
        "numpy": "numpy" in names,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                        help="also measure the tfjsconv package under DIR (first on PYTHONPATH)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "lazy_plugins.json")
    args = parser.parse_args()
    trees = [("current", None)] + [tuple(t.split("=", 1)) for t in args.tree]
    with tempfile.TemporaryDirectory() as tmp:
        models = tiny_models(Path(tmp))
        cmds = commands(models, Path(tmp) / "out")
        results: dict[str, dict] = {}
        envs = {label: dict(os.environ, PYTHONPATH=os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")]))
                if tree else dict(os.environ) for label, tree in trees}
        for name, argv in cmds.items():
            walls: dict[str, list[float]] = {label: [] for label in envs}
            for _ in range(args.repeat):  # the trees alternate run by run, so machine load hits both alike
                for label, env in envs.items():
                    walls[label].append(one_run(argv, env))
            for label, env in envs.items():
                results.setdefault(label, {})[name] = {"best_wall_seconds": round(min(walls[label]), 3),
                                                       "median_wall_seconds": round(float(np.median(walls[label])), 3),
                                                       **imports(argv, env)}
                print(f"{label:8s} {name:32s} {results[label][name]}", flush=True)
    doc = {
        "what": "issue 17 item 1 (lazy plugins): CLI start-up, best and median of N fresh processes (trees alternated run by run); imports from one -X importtime run",
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, shared with other jobs",
        "command": " ".join([Path(sys.executable).name, "bench/lazy_plugins.py", *sys.argv[1:]]),
        "repeat": args.repeat,
        "trees": {label: tree or "this checkout" for label, tree in trees},
        "commands": {name: " ".join(Path(a).name if a.startswith(tmp) else a for a in argv)
                     for name, argv in cmds.items()},
        "results": results,
    }
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
