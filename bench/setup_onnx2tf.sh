#!/usr/bin/env bash
# onnx2tf in its own virtual env (bench/.venv-onnx2tf), for bench/onnx_vs_onnx2tf.py.
# onnx2tf needs TensorFlow, onnx, onnx_graphsurgeon, sng4onnx and friends at versions that conflict
# with tfjsconv's own dev env, hence the separate env. PyPI access is enough; nothing else is fetched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-onnx2tf"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
# onnx2tf pins its own dependencies exactly (tensorflow 2.19, onnx 1.19.1, onnxsim, onnx_graphsurgeon ...)
"$venv/bin/pip" install -q "onnx2tf==1.29.24" "sng4onnx"
"$venv/bin/python" -c "import onnx2tf, tensorflow as tf; print('onnx2tf', onnx2tf.__version__, 'tensorflow', tf.__version__)"
