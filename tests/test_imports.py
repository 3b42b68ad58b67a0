"""The core stays light: importing it, or asking the CLI for help, loads no ML framework."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "torch", "onnx", "h5py", "keras", "jax", "onnxruntime")

PROBE = """
import sys
{body}
heavy = {heavy!r}
print()
print("LOADED:" + ",".join(m for m in sys.modules if m.split(".")[0] in heavy))
"""


def loaded_after(body: str) -> list[str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = out.stdout.rsplit("LOADED:", 1)[1].strip()
    return [m for m in line.split(",") if m]


@pytest.mark.parametrize("body", [
    "import tfjsconv",
    "import tfjsconv.conversion, tfjsconv.ir, tfjsconv.writers.graph_model, tfjsconv.weights, tfjsconv.verify",
    "from tfjsconv.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "from tfjsconv.cli import main\ntry:\n    main(['convert', '--help'])\nexcept SystemExit:\n    pass",
    "from tfjsconv.cli import main\nmain(['plugins'])",
])
def test_no_heavy_imports(body):
    assert loaded_after(body) == []


def test_console_script_help_runs():
    out = subprocess.run([sys.executable, "-m", "tfjsconv", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "convert" in out.stdout
