#!/usr/bin/env bash
# Sets up the official converter (tensorflowjs 4.22.0) in its own virtual env, for side-by-side runs.
#   bash bench/setup_official_converter.sh [VENV_DIR]     (default: bench/.venv-official)
# tensorflowjs==4.22.0 also needs ydf==0.13.0, or it fails at import with a protobuf error.
# Prints the path of the tensorflowjs_converter it installed; bench scripts read it from
# $TFJS_OFFICIAL_CONVERTER or look in the default folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/.venv-official}"
if [ ! -x "$venv/bin/tensorflowjs_converter" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "tensorflowjs==4.22.0" "ydf==0.13.0"
fi
"$venv/bin/tensorflowjs_converter" --version >&2
echo "$venv/bin/tensorflowjs_converter"
