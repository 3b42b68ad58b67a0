"""Inputs for verification: read from ``.npz`` files, or made at random from a model's signature."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..dtypes import DType
from ..errors import InputError

#: Most bytes the arrays of one ``.npz`` may declare: TF.js tensors and Node.js buffers stop near 2 GiB.
MAX_NPZ_BYTES = 2**31
#: Unknown dimensions (batch, sequence length) get this size in random inputs.
DEFAULT_DIM = 1
#: What ``verify SOURCE MODEL_DIR`` feeds an unknown axis past the first (a time length, an image side): one
#: step would leave a recurrence or a window unchecked. The batch axis stays :data:`DEFAULT_DIM`.
DEFAULT_INNER_DIM = 3


def load_npz(path: Path | str, what: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, never unpickled, refused before loading when their headers declare more than
    :data:`MAX_NPZ_BYTES` (a compressed archive may declare any size)."""
    path = Path(path)
    try:
        declared = _declared_bytes(path)
        if declared > MAX_NPZ_BYTES:
            raise InputError(f"{what} file {path} declares {declared} bytes of arrays, more than TF.js can take "
                             f"({MAX_NPZ_BYTES} bytes)", hint="feed smaller arrays")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise InputError(f"{what} file {path} does not exist") from None
    except (OSError, ValueError, EOFError, MemoryError) as err:
        raise InputError(f"{what} file {path} is not a readable .npz archive: {err}",
                         hint="write it with numpy.savez(path, name=array, ...) (no pickled objects)") from None


def _declared_bytes(path: Path) -> int:
    """The bytes the ``.npy`` headers of an ``.npz`` declare (0 for what is no zip: ``np.load`` says why)."""
    import zipfile

    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    reader = readers.get(np.lib.format.read_magic(member))
                    if reader is None:
                        continue
                    shape, _, dtype = reader(member)
                    total += math.prod(shape) * dtype.itemsize
    except (zipfile.BadZipFile, ValueError, EOFError, TypeError):
        return total
    return total


def check_fed_inputs(inputs: dict[str, np.ndarray], specs: dict[str, tuple[DType, tuple[int | None, ...] | None]],
                     model_dir: Path | str, *, missing_too: bool, aliases: dict[str, str] | None = None) -> None:
    """Refuse, before any framework runs, inputs the TF.js model cannot take as they are: a name it lacks (or, with
    ``missing_too``, one it needs), a rank or fixed size it does not have, or a value type it would change (complex
    into real, text into numbers or back, fractions into integers). A framework would fail on these in its own
    words (TF.js as a crash of every backend) or, worse, cast silently where the other refuses. ``aliases``: other
    names TF.js takes for an input (its node's, :func:`input_node_names`), mapped to the spec's name."""
    if not specs:  # nothing declared: TF.js (or the source) says what it lacks
        return
    by_name = {name.removesuffix(":0"): name for name in specs}
    aliases = aliases or {}
    fed = {aliases.get(name.removesuffix(":0"), name.removesuffix(":0")): name for name in inputs}
    if not (len(specs) == 1 and len(inputs) == 1):
        extra = sorted(set(fed) - set(by_name))
        missing = sorted(set(by_name) - set(fed)) if missing_too else []
        if extra or missing:
            parts = [f"has {', '.join(extra)}, which it does not take"] if extra else []
            parts += [f"lacks {', '.join(missing)}"] if missing else []
            raise InputError(f"the inputs fed ({', '.join(sorted(fed)) or 'none'}) do not fit {model_dir}: it takes "
                             f"{', '.join(by_name) or 'none'}; the feed {' and '.join(parts)}",
                             hint="key the --inputs .npz by the model's input names")
    pairs = [(next(iter(inputs)), next(iter(specs.values())))] if len(specs) == 1 and len(inputs) == 1 else \
        [(name, specs[by_name[key]]) for key, name in fed.items() if key in by_name]
    for name, (dtype, shape) in pairs:
        _check_one_input(name, np.asarray(inputs[name]), dtype, shape)


def _check_one_input(name: str, array: np.ndarray, dtype: DType, shape: tuple[int | None, ...] | None) -> None:
    """One fed array against the TF.js model's input spec (see :func:`check_fed_inputs`)."""
    wanted = shape_text(shape) if shape is not None else "any shape"
    if shape is not None and (array.ndim != len(shape)
                              or any(d is not None and d != n for d, n in zip(shape, array.shape))):
        raise InputError(f"input {name!r} has shape {list(array.shape)}; the model takes {wanted}",
                         hint="an unknown size (-1) takes any length; the rank and fixed sizes must match")
    problem = _value_type_problem(array, dtype)
    if problem:
        raise InputError(f"input {name!r} is {array.dtype} ({problem}); the model takes {dtype.short_name}",
                         hint=f"write it as {dtype.short_name} in the .npz")


def shape_text(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def _value_type_problem(array: np.ndarray, dtype: DType) -> str | None:
    """Why feeding ``array`` to an input of ``dtype`` would change its values, or None when it is exact."""
    text_in, text_wanted = array.dtype.kind in "USO", dtype is DType.STRING
    if text_in != text_wanted:
        return "text into a numeric input" if text_in else "numbers into a string input"
    if text_in:
        return None
    complex_wanted = dtype.short_name.startswith("complex")
    if (array.dtype.kind == "c") != complex_wanted:
        return "complex values into a real input" if array.dtype.kind == "c" else "real values into a complex input"
    integer_wanted = dtype in (DType.INT32, DType.INT64, DType.INT8, DType.INT16, DType.UINT8, DType.UINT16,
                               DType.BOOL)
    if integer_wanted and array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        return "fractions or non-finite values into an integer input"
    return None


def input_specs(model_dir: Path | str) -> dict[str, tuple[DType, tuple[int | None, ...] | None]]:
    """``{input name: (dtype, shape)}`` from a TF.js model.json (graph signature or Keras input layers)."""
    model_json = Path(model_dir) / "model.json"
    try:
        doc = json.loads(model_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{model_dir} has no model.json: not a TF.js model folder") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{model_json} is not valid JSON: {str(err)[:200]}") from None
    except OSError as err:
        raise InputError(f"cannot read {model_json}: {err}") from None
    try:
        return _specs_of(doc)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as err:  # a hand-edited or foreign file
        raise InputError(f"{model_json} does not describe its inputs as TF.js model.json files do "
                         f"({type(err).__name__}: {err})", hint="convert the model again") from None


def _specs_of(doc: dict[str, Any]) -> dict[str, tuple[DType, tuple[int | None, ...] | None]]:
    """The input specs a parsed model.json declares (see :func:`input_specs`)."""
    if not isinstance(doc, dict):
        raise TypeError(f"the file holds a JSON {type(doc).__name__}, not an object")
    if doc.get("format") == "layers-model" or "model_config" in doc.get("modelTopology", {}):
        return _layers_inputs(doc["modelTopology"]["model_config"])
    specs = {}
    for key, info in (doc.get("signature") or {}).get("inputs", {}).items():
        if "resourceId" in info:  # fed by TF.js from modelInitializer (a hash table), not by the caller
            continue
        dtype = DType(info.get("dtype", "DT_FLOAT"))
        shape_json = info.get("tensorShape")
        specs[key] = (dtype, _shape(shape_json))
    if not specs:
        for node in doc.get("modelTopology", {}).get("node", []):
            if node.get("op") == "Placeholder":
                attr = node.get("attr", {})
                specs[node["name"]] = (DType(attr.get("dtype", {}).get("type", "DT_FLOAT")),
                                       _shape(attr.get("shape", {}).get("shape")))
    return specs


def input_node_names(model_dir: Path | str) -> dict[str, str]:
    """``{node name: signature key}`` of a graph model's inputs whose node is named otherwise
    (``serving_default_x`` for ``x``): TF.js's ``execute`` takes either name. Empty when there is none to read."""
    try:
        doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
        inputs = doc["signature"]["inputs"]
        names = {str(info["name"]).removesuffix(":0"): str(key) for key, info in inputs.items()}
    except (OSError, json.JSONDecodeError, TypeError, KeyError, AttributeError):
        return {}
    return {node: key for node, key in names.items() if node != key}


def signature_output_names(model_dir: Path | str) -> list[str] | None:
    """A graph model's output names, as the TF.js runner names its results (signature keys, else the output
    nodes); None for a layers model or a folder without a readable model.json. A frontend's reference names
    its outputs to match (the Keras plugin knows two namings: its lowering's and TensorFlow's tracer's)."""
    try:
        doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("format") == "layers-model" or \
            "model_config" in (doc.get("modelTopology") or {}):
        return None
    outputs = (doc.get("signature") or {}).get("outputs")
    return [str(k) for k in outputs] if isinstance(outputs, dict) and outputs else None


def _shape(shape_json: dict[str, Any] | None) -> tuple[int | None, ...] | None:
    if shape_json is None or shape_json.get("unknownRank"):
        return None
    return tuple(None if int(d.get("size", -1)) < 0 else int(d["size"]) for d in shape_json.get("dim", []))


def _layers_inputs(config: dict[str, Any]) -> dict[str, tuple[DType, tuple[int | None, ...] | None]]:
    """Input specs of a Keras-2 style topology: the first layer of a Sequential, else the input layers."""
    layers = config.get("config", {}).get("layers", [])
    if config.get("class_name") == "Sequential":
        chosen = [layers[0]["config"]] if layers else []
    else:
        by_name = {layer.get("name") or layer["config"].get("name"): layer["config"] for layer in layers}
        chosen = [by_name[entry[0]] for entry in config.get("config", {}).get("input_layers", [])]
    specs = {}
    for layer in chosen:
        shape = layer.get("batch_input_shape") or layer.get("batch_shape")
        dtype = layer.get("dtype")
        specs[layer.get("name", "input")] = (DType.from_any(dtype if isinstance(dtype, str) else "float32"),
                                            tuple(shape) if shape else None)
    return specs


def has_unknown_inner_dims(specs: dict[str, tuple[DType, tuple[int | None, ...] | None]]) -> bool:
    """Whether an input has an unknown axis past its first (what ``inner_dim`` of :func:`random_inputs` sizes)."""
    return any(shape is not None and None in shape[1:] for _, shape in specs.values())


def unknown_axes(specs: dict[str, tuple[DType, tuple[int | None, ...] | None]]) -> str:
    """The unknown axes past the first, named for a report: ``"x axis 1, mask axis 1"``."""
    return ", ".join(f"{name} axis {i}" for name, (_, shape) in specs.items() if shape is not None
                     for i, d in enumerate(shape) if i > 0 and d is None)


def random_inputs(specs: dict[str, tuple[DType, tuple[int | None, ...] | None]], *, seed: int = 0,
                  dim: int = DEFAULT_DIM, inner_dim: int | None = None) -> dict[str, np.ndarray]:
    """Deterministic random inputs matching ``specs``: an unknown first axis becomes ``dim``, any other
    unknown axis ``inner_dim`` (``dim`` when not given)."""
    rng = np.random.default_rng(seed)
    inner = dim if inner_dim is None else inner_dim
    out = {}
    for name, (dtype, shape) in specs.items():
        if shape is None:
            raise InputError(f"input {name!r} has unknown rank; pass --inputs with real data")
        concrete = tuple((dim if i == 0 else inner) if d is None else d for i, d in enumerate(shape))
        if dtype in (DType.FLOAT32, DType.FLOAT64, DType.FLOAT16):
            out[name] = rng.standard_normal(concrete).astype(np.float32)
        elif dtype in (DType.INT32, DType.INT64, DType.INT8, DType.INT16, DType.UINT8, DType.UINT16):
            out[name] = rng.integers(0, 10, concrete).astype(np.int32)
        elif dtype is DType.BOOL:
            out[name] = rng.integers(0, 2, concrete).astype(bool)
        elif dtype is DType.STRING:
            words = np.array(["a", "b", "tf.js", ""], dtype=object)
            out[name] = words[rng.integers(0, len(words), concrete)]
        else:
            raise InputError(f"cannot make random data for input {name!r} of type {dtype.short_name}")
    return out
