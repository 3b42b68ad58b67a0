"""The README's main job, end to end: convert the bundled Keras model, then verify it in real TF.js.

``examples/demo_cnn.keras`` is a small Keras 3 CNN with random weights (rebuild it with
``examples/make_demo_model.py``). The demo runs the two commands a user would:

    tfjsconv convert examples/demo_cnn.keras examples/output/demo_cnn_tfjs
    tfjsconv verify examples/demo_cnn.keras examples/output/demo_cnn_tfjs --inputs images.npz

The conversion reads the file with h5py alone; the verification runs the converted layers model in
@tensorflow/tfjs under Node on the cpu and wasm backends and compares it with Keras's own outputs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
MODEL = HERE / "demo_cnn.keras"
OUTPUT = HERE / "output" / "demo_cnn_tfjs"


#: TensorFlow's C++ start-up chatter (printed even at TF_CPP_MIN_LOG_LEVEL=3); not worth showing.
_TF_NOISE = ("WARNING: All log messages before absl::InitializeLog()", "I0000 ", "W0000 ")


def _tfjsconv(*args: str) -> int:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "tfjsconv", *args], env=env, stderr=subprocess.PIPE, text=True)
    sys.stderr.write("".join(line for line in proc.stderr.splitlines(keepends=True) if not line.startswith(_TF_NOISE)))
    return proc.returncode


def main() -> int:
    if not MODEL.is_file():
        print(f"{MODEL} is missing; build it with: python examples/make_demo_model.py", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-demo-"))
    try:
        images = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
        np.savez(work / "images.npz", image=images)

        print(f"== convert: {MODEL.relative_to(HERE.parent)} (Keras 3) -> TF.js layers model, with h5py only")
        code = _tfjsconv("convert", str(MODEL), str(OUTPUT), "--overwrite")
        if code:
            return code
        print("\n== verify: run it in @tensorflow/tfjs (Node) on cpu and wasm, compare with Keras")
        return _tfjsconv("verify", str(MODEL), str(OUTPUT), "--inputs", str(work / "images.npz"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
