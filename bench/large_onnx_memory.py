"""Peak memory of converting an ONNX model whose weights live in external data (a chain of big MatMuls).

The generator streams the weights to disk one matrix at a time, so building a 2.5 GB model needs
about one matrix of memory. The conversion runs in a fresh interpreter that reports its own peak
RSS (``resource.getrusage``, which counts file pages mapped by ``numpy.memmap`` too).

    .venv/bin/python bench/large_onnx_memory.py                 # ~2.5 GB model, writes bench/results/
    .venv/bin/python bench/large_onnx_memory.py --gigabytes 0.2 # what the test suite does

Not run by CI (tests/test_reliability_memory.py runs a ~200 MB version with an RSS bound).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "large_onnx_memory.json"
DATA_FILE = "weights.bin"

#: Runs in a fresh interpreter: convert, then print the peak RSS (bytes) and the seconds.
_CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from tfjsconv.cli import main
code = main(["convert", sys.argv[1], sys.argv[2], "--quiet", "--overwrite"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"exit_code": code, "peak_rss_bytes": peak, "seconds": time.perf_counter() - start}))
"""

_BASELINE = """
import json, resource
import numpy, onnx, tfjsconv.cli, tfjsconv.plugins.onnx.translate
print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def generate(folder: Path, total_bytes: int, *, width: int = 4096, seed: int = 0) -> Path:
    """``x[1, width]`` through ``n`` MatMuls with ``width x width`` float32 weights (external data), ~total_bytes."""
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    per_matrix = width * width * 4
    count = max(1, round(total_bytes / per_matrix))
    rng = np.random.default_rng(seed)
    scale = np.float32(1.0 / np.sqrt(width))
    initializers, nodes = [], []
    with open(folder / DATA_FILE, "wb") as data:
        for i in range(count):
            offset = data.tell()
            for rows in range(0, width, 512):  # a slab at a time: memory stays small
                slab = rng.standard_normal((min(512, width - rows), width), dtype=np.float32) * scale
                data.write(slab.astype("<f4").tobytes())
            tensor = TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[width, width])
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", DATA_FILE), ("offset", str(offset)), ("length", str(per_matrix))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            initializers.append(tensor)
            nodes.append(helper.make_node("MatMul", ["x" if i == 0 else f"h{i - 1}", f"w{i}"],
                                          [f"h{i}" if i < count - 1 else "y"], name=f"matmul{i}"))
    graph = helper.make_graph(nodes, "matmul_chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8,
                              producer_name="tfjsconv-bench")
    path = folder / "model.onnx"
    onnx.save_model(model, str(path))
    return path


def _run(code: str, *args: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(model: Path, out: Path) -> dict:
    """Convert ``model`` into ``out`` in a fresh interpreter; its peak RSS, time, and the import baseline."""
    result = _run(_CHILD, str(model), str(out))
    result["baseline_rss_bytes"] = _run(_BASELINE)["peak_rss_bytes"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gigabytes", type=float, default=2.5, help="weights size (default 2.5)")
    parser.add_argument("--width", type=int, default=4096, help="matrix width (default 4096: 64 MiB per MatMul)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build the model (default: a temp dir)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/large_onnx_memory.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-large-onnx-", dir=args.workdir))
    try:
        start = time.perf_counter()
        model = generate(work / "src", int(args.gigabytes * 1e9), width=args.width)
        built = time.perf_counter() - start
        weights = (work / "src" / DATA_FILE).stat().st_size
        result = measure(model, work / "out")
        shards = sorted((work / "out").glob("*.bin"))
        record = {
            "model": f"MatMul chain, width {args.width}, {weights // (args.width * args.width * 4)} weights",
            "output_shards": len(shards),
            "weights_bytes": weights,
            "output_bytes": sum(p.stat().st_size for p in shards),
            "generate_seconds": round(built, 1),
            "convert_seconds": round(result["seconds"], 1),
            "exit_code": result["exit_code"],
            "peak_rss_bytes": result["peak_rss_bytes"],
            "baseline_rss_bytes": result["baseline_rss_bytes"],
            "peak_rss_gb": round(result["peak_rss_bytes"] / 1e9, 3),
            "target_peak_rss_gb": 1.5,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "command": f"python bench/large_onnx_memory.py --gigabytes {args.gigabytes} --width {args.width}",
        }
        print(json.dumps(record, indent=2))
        if not args.no_save:
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(record, indent=2) + "\n")
        return 0 if result["exit_code"] == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
