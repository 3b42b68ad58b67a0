"""Coverage-guided fuzzing with atheris (libFuzzer), for long runs outside CI.

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/atheris_fuzz.py onnx  -atheris_runs=100000
    .venv/bin/python tests/fuzz/atheris_fuzz.py h5    -max_total_time=600
    .venv/bin/python tests/fuzz/atheris_fuzz.py keras tests/corpus/keras   # start from a corpus folder

Formats: h5, keras, onnx, tfjs (a layers model.json). Same rule as the hypothesis harnesses: only a
TfjsconvError may end a conversion; anything else is a crash, and libFuzzer writes the input to
``crash-<sha>`` (copy it into tests/corpus/<format>/ and fix the reader).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = {"h5": ("model.h5", "keras"), "keras": ("model.keras", "keras_keras"), "onnx": ("model.onnx", "onnx"),
           "tfjs": ("model.json", "tfjs_layers_model")}


def _seed(fmt: str, folder: Path) -> bytes:
    from canary import Canary
    from fuzz import seeds

    if fmt == "onnx":
        return seeds.onnx_mlp().SerializeToString()
    files = seeds.keras_files(folder, Canary(folder / "canary.txt"))
    if fmt == "tfjs":
        import tfjsconv

        tfjsconv.convert(files["k3.keras"], folder / "layers")
        return (folder / "layers" / "model.json").read_bytes()
    return files["tk.h5" if fmt == "h5" else "k3.keras"].read_bytes()


def main() -> None:
    import atheris

    fmt = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in FORMATS else "onnx"
    name, input_format = FORMATS[fmt]
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-atheris-"))
    seed = _seed(fmt, work / "seed")
    layers_dir = work / "seed" / "layers"

    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    def one_input(data: bytes) -> None:
        folder = Path(tempfile.mkdtemp(dir=work))
        try:
            if fmt == "tfjs":
                for shard in layers_dir.glob("*.bin"):
                    (folder / shard.name).write_bytes(shard.read_bytes())
            (folder / name).write_bytes(data or seed)
            try:
                tfjsconv.convert(folder / name, folder / "out", input_format=input_format)
            except TfjsconvError:
                assert not (folder / "out").exists()
        finally:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)

    if not any(not a.startswith("-") for a in sys.argv[1:]):  # no corpus folder given: start from the seed
        (work / "corpus").mkdir()
        (work / "corpus" / name).write_bytes(seed)
        sys.argv.append(str(work / "corpus"))
    atheris.instrument_all()  # coverage for everything loaded so far: tfjsconv, its plugins, the parsers
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
