"""``tfjsconv convert INPUT OUTPUT``: the flags of ``tensorflowjs_converter``, with the same meanings."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import UsageError
from ..options import DEFAULT_SHARD_SIZE, MAX_OPTIMIZATION_LEVEL
from .flags import (add_limit_flags, limit_options, normalize_argv, parse_bool, parse_list, parse_metadata,
                    parse_patterns)

#: flag -> (default, help). All take true/false, or nothing for true.
BOOL_OPTIONS: dict[str, tuple[bool, str]] = {
    "--split_weights_by_layer": (False, "one weight group per layer (layers models)"),
    "--skip_op_check": (False, "write the model even if TF.js lacks some ops (they fail in the browser instead)"),
    "--strip_debug_ops": (True, "remove Assert, CheckNumerics and Print (default true)"),
    "--control_flow_v2": (False, "keep functional While/If instead of lowering them (graph models)"),
    "--use_structured_outputs_names": (False, "name outputs by the SavedModel's structured output keys"),
    "--overwrite": (False, "replace an existing output folder"),
    "--allow_unsafe_deserialization": (False, "allow loading code stored in the model (Keras Lambda, pickles) "
                                              "and reading files it names (Keras vocabulary paths); "
                                              "only for files you trust"),
    "--exact_special_values": (False, "rewrite ops whose TF.js kernels mishandle NaN/Inf on a target backend "
                                      "(Maximum, Relu6, ArgMax, Softmax… on wasm/cpu) so they give TF's results"),
    "--keep_provenance": (False, "write provenance.json: the source nodes/layers of every TF.js node"),
    "--experiments": (False, argparse.SUPPRESS),
}
BOOL_FLAGS = set(BOOL_OPTIONS)
PATTERN_FLAGS = {"--quantize_float16", "--quantize_uint8", "--quantize_uint16", "--quantize_int8"}
INPUT_FORMAT_HELP = ("keras, keras_keras, keras_saved_model, tf_saved_model, tf_hub, tf_frozen_model, "
                     "tfjs_layers_model, onnx, torch_export, … (detected when omitted; `tfjsconv plugins` lists them)")


def normalize(argv: list[str]) -> list[str]:
    if "convert" not in argv:
        return argv
    at = argv.index("convert") + 1
    return argv[:at] + normalize_argv(argv[at:], bool_flags=BOOL_FLAGS, pattern_flags=PATTERN_FLAGS)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("convert", help="convert a model to TF.js", description=__doc__,
                       epilog="Booleans take true/false (`--strip_debug_ops=false`). Quantize flags take "
                              "comma-separated fnmatch patterns over weight names, or nothing for all weights.")
    p.add_argument("input_path", help="the source model: a file, a folder, or a TF Hub module folder")
    p.add_argument("output_path", help="the folder to write model.json and the weight shards into")
    p.add_argument("--input_format", help=INPUT_FORMAT_HELP)
    p.add_argument("--output_format", help="tfjs_graph_model or tfjs_layers_model (default: the input's natural one)")
    p.add_argument("--signature_name", help="SavedModel signature (default serving_default; `default` for TF Hub)")
    p.add_argument("--saved_model_tags", type=parse_list, default=None,
                   help="comma-separated MetaGraph tags (default serve; empty string for none)")
    q = p.add_argument_group("quantization (float32 weights only; the error is reported)")
    for dtype in ("float16", "uint8", "uint16"):
        q.add_argument(f"--quantize_{dtype}", type=parse_patterns, default=None, metavar="PATTERNS",
                       help=f"store matching weights as {dtype} (no value: all weights)")
    q.add_argument("--quantize_int8", type=parse_patterns, default=None, metavar="PATTERNS",
                   help="per-channel symmetric int8 for matching conv/matmul kernels, 1 byte each (no value: "
                        "all of them; graph models only)")
    q.add_argument("--quantization_bytes", type=int, choices=(1, 2),
                   help="deprecated: 1 is --quantize_uint8, 2 is --quantize_uint16, for all weights")
    p.add_argument("--weight_shard_size_bytes", type=int, default=DEFAULT_SHARD_SIZE,
                   help=f"shard size in bytes (default {DEFAULT_SHARD_SIZE})")
    p.add_argument("--metadata", type=parse_metadata, default=None, metavar="KEY:FILE.json[,…]",
                   help="JSON files to store in model.json under userDefinedMetadata")
    p.add_argument("--output_node_names", type=parse_list, default=None, metavar="NAMES",
                   help="comma-separated output nodes (frozen GraphDefs)")
    p.add_argument("--optimization_level", type=int, default=MAX_OPTIMIZATION_LEVEL,
                   choices=range(MAX_OPTIMIZATION_LEVEL + 1), help="0: only required passes; 2 (default): all safe passes")
    p.add_argument("--skip_passes", type=parse_list, default=None, metavar="NAMES", help="comma-separated passes to turn off")
    for flag, (default, help_text) in BOOL_OPTIONS.items():
        p.add_argument(flag, type=parse_bool, default=default, metavar="BOOL", help=help_text)
    add_limit_flags(p)
    p.add_argument("--target_backends", type=parse_list, default=None, metavar="BACKENDS",
                   help="comma-separated TF.js backends the model must run on (default cpu,wasm,webgl); "
                        "nodes one of them cannot run are refused")
    p.add_argument("--quiet", action="store_true", help="print nothing on success (no progress either)")
    p.add_argument("--verify", action="store_true",
                   help="then run the model in TF.js (cpu and wasm, those among --target_backends) on random inputs "
                        "and compare with the source")
    p.add_argument("--verbose", action="store_true", help="print op counts before/after the passes")
    _add_plugin_options(p)


def _add_plugin_options(parser: argparse.ArgumentParser) -> None:
    from ..plugin_manager import get_plugin_manager

    options = get_plugin_manager().registry.options
    if not options:
        return
    group = parser.add_argument_group("options added by plugins")
    for option in options:
        kwargs = dict(option.kwargs)
        kwargs.setdefault("default", None)
        help_text = kwargs.get("help", "")
        kwargs["help"] = f"{help_text} [plugin {option.plugin}]".strip()
        kwargs["dest"] = "plugin__" + option.flag.lstrip("-").replace("-", "_")
        group.add_argument(option.flag, **kwargs)


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    quantize = {d: getattr(args, f"quantize_{d}") for d in ("float16", "uint8", "uint16")}
    if args.quantization_bytes:
        if any(v is not None for v in quantize.values()):
            raise UsageError("--quantization_bytes cannot be combined with --quantize_float16/uint8/uint16")
        quantize["uint8" if args.quantization_bytes == 1 else "uint16"] = True
    options: dict[str, Any] = {
        "input_format": args.input_format,
        "output_format": args.output_format,
        "signature_name": args.signature_name,
        "weight_shard_size_bytes": args.weight_shard_size_bytes,
        "split_weights_by_layer": args.split_weights_by_layer,
        "skip_op_check": args.skip_op_check,
        "strip_debug_ops": args.strip_debug_ops,
        "control_flow_v2": args.control_flow_v2,
        "metadata": args.metadata or {},
        "use_structured_outputs_names": args.use_structured_outputs_names,
        "output_node_names": args.output_node_names,
        "optimization_level": args.optimization_level,
        "skip_passes": args.skip_passes or [],
        "overwrite": args.overwrite,
        "allow_unsafe_deserialization": args.allow_unsafe_deserialization,
        "keep_provenance": args.keep_provenance,
        **{f"quantize_{d}": v for d, v in quantize.items()},
        "quantize_int8": args.quantize_int8,
    }
    if args.saved_model_tags is not None:
        options["saved_model_tags"] = args.saved_model_tags
    options.update(limit_options(args))
    if args.target_backends is not None:
        options["target_backends"] = args.target_backends
    if args.exact_special_values:
        options["exact_special_values"] = True
    for key, value in vars(args).items():
        if key.startswith("plugin__") and value is not None:
            options[key[len("plugin__"):]] = value
    return options


def run(args: argparse.Namespace) -> int:
    from ..conversion import convert
    from ..progress import Progress
    from . import startup_gc
    from .report import format_conversion

    startup_gc.resume()  # the imports that live as long as the process are done (the `tfjsconv` command only)
    options = options_from_args(args)
    progress = Progress(enabled=False) if args.quiet else Progress()  # shown only when stderr is a terminal
    result = convert(args.input_path, args.output_path, progress=progress, **options)
    if not args.quiet:
        print(format_conversion(result, verbose=args.verbose), file=sys.stdout, flush=True)
    if args.verify:
        _verify(args, result, options)
    return 0


def _verify(args: argparse.Namespace, result: Any, options: dict[str, Any]) -> None:
    """``--verify``: the converted model against the frontend's reference run, on random inputs."""
    from ..errors import VerificationError
    from ..verify.compare import format_report
    from ..verify.run import DEFAULT_BACKENDS
    from ..verify.source_check import verify_against_source

    # Node runs cpu and wasm; a model converted for narrower targets is verified on those only.
    targets = options.get("target_backends")
    backends = [b for b in DEFAULT_BACKENDS if b in targets] if targets else list(DEFAULT_BACKENDS)
    if not backends:
        print(f"\n--verify: no Node backend among --target_backends={','.join(targets)}; "
              "use `tfjsconv verify --browser` for webgl", file=sys.stdout, flush=True)
        return
    report = verify_against_source(args.input_path, result.output_dir, input_format=result.input_format,
                                   convert_options=options, backends=backends, quiet=args.quiet)
    if not args.quiet or not report.passed:
        print("\n" + format_report(report), file=sys.stdout, flush=True)
    if report.crashes:
        raise VerificationError(f"the model was written to {result.output_dir}, but TF.js could not run it on "
                                f"{', '.join(report.crashes)} (see CRASH above)")
    if not report.passed:
        raise VerificationError(f"the model was written to {result.output_dir}, but its TF.js outputs differ "
                                "from the source model's beyond tolerance")
