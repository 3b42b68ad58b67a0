"""TF.js weights: encoding, quantization, sharded writing and safe reading.

The parts, one job each:

- :func:`write_weights` (``writer``): groups of ``(name, array_or_LazyArray)`` -> shard files
  ``group{g}-shard{i}of{n}.bin`` + the ``weightsManifest`` list, streamed one tensor at a time.
- :func:`read_weights` / :func:`load_manifest_weights` (``reader``): manifest + folder -> dequantized
  numpy arrays, refusing shard paths outside the folder and shards of the wrong size.
- :class:`QuantizationPlan` (``quantize``): which weights get float16/uint8/uint16, with the
  ``--quantize_*`` flags' semantics; :func:`dequantize` is what TF.js does on load.
- :class:`WeightsReport` (``report``): dtype conversions, quantization errors and sizes, so that
  nothing lossy happens silently.
- :func:`encode_array` / :func:`iter_encoded` / :func:`decode_array` / :func:`tfjs_dtype`
  (``encoding``): the byte formats (string = LE uint32 length + UTF-8; bool = 1 byte; complex64 =
  re/im float32) and which dtype TF.js stores each numpy dtype as.
- :func:`parse_manifest` (``manifest``): checks a manifest read from disk.
"""
from __future__ import annotations

from .encoding import decode_array, encode_array, iter_encoded, tfjs_dtype
from .manifest import GroupSpec, WeightSpec, parse_manifest
from .quantize import QuantizationPlan, dequantize
from .reader import load_manifest_weights, read_model_json, read_weights
from .report import DtypeConversion, QuantizedWeight, WeightsReport
from .writer import shard_file_name, write_weights

__all__ = [
    "DtypeConversion",
    "GroupSpec",
    "QuantizationPlan",
    "QuantizedWeight",
    "WeightSpec",
    "WeightsReport",
    "decode_array",
    "dequantize",
    "encode_array",
    "iter_encoded",
    "load_manifest_weights",
    "read_model_json",
    "parse_manifest",
    "read_weights",
    "shard_file_name",
    "tfjs_dtype",
    "write_weights",
]
