"""``tfjsconv verify [SOURCE] MODEL_DIR``: run the converted model in real TF.js and compare.

With ``--inputs/--expected`` the reference comes from files; with a SOURCE model its frontend
runs the source framework on the same inputs (random ones from the signature when not given).
``--browser`` adds the webgl backend, run in headless Chromium (WebGL on SwiftShader). ``--trace``
compares node by node (layer by layer) and names the first that differs (:mod:`tfjsconv.verify.trace`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError, VerificationError
from .flags import non_negative_float, positive_int

BACKENDS = ("cpu", "wasm")
BROWSER_BACKENDS = ("webgl",)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("verify", help="run a converted model in TF.js (Node) and compare with a reference",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="[SOURCE] MODEL_DIR",
                   help="the TF.js model folder, optionally preceded by the source model to compare against")
    p.add_argument("--inputs", type=Path, help=".npz file of inputs, keyed by signature input name")
    p.add_argument("--expected", type=Path, help=".npz file of expected outputs, keyed by output name")
    p.add_argument("--backend", choices=(*BACKENDS, *BROWSER_BACKENDS, "all"), default=None,
                   help="TF.js backend(s) (default: those of cpu and wasm the model was converted for, its "
                        "--target_backends, plus webgl with --browser; all: cpu and wasm whatever the targets)")
    p.add_argument("--browser", action="store_true", help="also run on webgl, in headless Chromium")
    p.add_argument("--webgl_rtol", type=non_negative_float, default=None,
                   help="tolerance of the webgl backend (default: --rtol with float32 textures, "
                        "the larger of --rtol and 1e-2 with float16 ones)")
    p.add_argument("--webgl_f16", action="store_true",
                   help="run webgl with float16 textures, as GPUs without float32 render targets (many phones) do")
    p.add_argument("--rtol", type=non_negative_float, default=None, help="tolerance relative to max |expected| per output")
    p.add_argument("--atol", type=non_negative_float, default=None, help="absolute tolerance")
    p.add_argument("--elem_rtol", type=non_negative_float, default=None,
                   help="allowed error relative to each element's own magnitude, for elements above "
                        "--elem_floor (default 0.25; 0 turns this element rule off)")
    p.add_argument("--elem_floor", type=non_negative_float, default=None,
                   help="elements with |expected| >= this fraction of max|expected| are held to --elem_rtol "
                        "(default 1e-5)")
    p.add_argument("--input_format", help="format of SOURCE (detected when omitted)")
    p.add_argument("--signature_name",
                   help="SavedModel signature SOURCE is run with, as in convert (default: the one MODEL_DIR records, "
                        "else serving_default; `default` for TF Hub)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    p.add_argument("--quantized_rtol", type=non_negative_float, default=None,
                   help="tolerance of a quantized model against SOURCE (default by dtype: float16 and uint16 "
                        "1e-2, uint8 1e-1); the float32 model is always held to --rtol")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--trace", action="store_true",
                   help="compare every node (graph models, through provenance.json) or layer with SOURCE and "
                        "name the first that differs")
    p.add_argument("--trace_limit", type=positive_int, default=None,
                   help="most tensors --trace fetches per run (default 2000: every node of smaller graphs; "
                        "larger ones are bisected)")


def run(args: argparse.Namespace) -> int:
    from ..verify.compare import format_report, verify_model
    from ..verify.inputs import check_fed_inputs, input_specs, load_npz, random_inputs

    if len(args.paths) > 2:
        raise UsageError("verify takes MODEL_DIR, or SOURCE and MODEL_DIR")
    source = args.paths[0] if len(args.paths) == 2 else None
    model_dir = Path(args.paths[-1])
    if source is None and args.expected is None:
        raise UsageError("verify needs --expected Y.npz, or a SOURCE model to compute the reference",
                         hint="e.g. tfjsconv verify model.h5 web_model/")
    if source is None and args.inputs is None:
        raise UsageError("verify with --expected also needs --inputs X.npz (the inputs that produced it)")
    if source is None and args.signature_name is not None:
        raise UsageError("--signature_name names the SOURCE's signature to run; with --expected there is no SOURCE")
    inputs = load_npz(args.inputs, "--inputs") if args.inputs else random_inputs(input_specs(model_dir), seed=args.seed)
    if args.inputs:  # a SOURCE names what it lacks itself, and which side differs
        check_fed_inputs(inputs, input_specs(model_dir), model_dir, missing_too=source is None)
    backends = _backends(model_dir, args)
    if source is not None and args.signature_name:
        _note_other_signature(model_dir, args.signature_name)
    tolerances: dict = {k: v for k, v in (("rtol", args.rtol), ("atol", args.atol), ("elem_rtol", args.elem_rtol),
                                          ("elem_floor", args.elem_floor)) if v is not None}
    if args.webgl_rtol is not None:
        tolerances["backend_rtol"] = {"webgl": args.webgl_rtol}
    if args.webgl_f16:
        if "webgl" not in backends:
            raise UsageError("--webgl_f16 needs the webgl backend", hint="add --browser (or --backend webgl)")
        tolerances["browser_flags"] = {"WEBGL_FORCE_F16_TEXTURES": True}
    if args.trace:
        return _trace(args, source, model_dir, inputs, backends, tolerances)
    if args.expected is not None:
        report = verify_model(model_dir, inputs, load_npz(args.expected, "--expected"), backends=backends,
                              quiet=args.json, check_inputs=False, **tolerances)  # checked above
    else:
        from ..verify.source_check import verify_against_source

        # Without --inputs the random inputs are made there: an unknown time axis gets several steps.
        report = verify_against_source(source, model_dir, input_format=args.input_format,
                                       inputs=inputs if args.inputs else None, seed=args.seed, backends=backends,
                                       quantized_rtol=args.quantized_rtol, quiet=args.json,
                                       signature_name=args.signature_name, **tolerances)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report), file=sys.stdout)
    if report.crashes:
        raise VerificationError(f"TF.js could not run the model on {', '.join(report.crashes)} (see CRASH above)")
    if not report.passed:
        raise VerificationError("the TF.js outputs differ from the reference beyond tolerance")
    return 0


def _backends(model_dir: Path, args: argparse.Namespace) -> tuple[str, ...]:
    """The backends to run (the model's targets unless --backend/--browser say otherwise), notices on stderr."""
    from ..verify.targets import choose_backends

    choice = choose_backends(model_dir, args.backend, args.browser)
    for notice in choice.notices:
        print(notice, file=sys.stderr)
    return choice.backends


def _note_other_signature(model_dir: Path, asked: str) -> None:
    """A notice when --signature_name differs from the signature MODEL_DIR records it was converted from."""
    from ..verify.source_check import recorded_signature

    recorded = recorded_signature(model_dir)
    if recorded and recorded != asked:
        print(f"note: {model_dir} records it was converted from signature {recorded!r}; running SOURCE's "
              f"{asked!r} as asked", file=sys.stderr)


def _trace(args: argparse.Namespace, source: str | None, model_dir: Path, inputs: dict, backends: tuple,
           tolerances: dict) -> int:
    """``verify SOURCE MODEL_DIR --trace``: node-by-node comparison, first differing node named."""
    from ..verify.trace import DEFAULT_TRACE_LIMIT, trace_model
    from ..verify.trace_format import format_trace

    if source is None:
        raise UsageError("--trace needs the SOURCE model", hint="tfjsconv verify model.onnx web_model/ --trace")
    if "webgl" in backends:
        raise UsageError("--trace runs on cpu and wasm (in Node) only", hint="drop --browser or use --backend cpu")
    from ..verify.source_check import QUANTIZED_RTOL, quantized_dtypes, quantized_only_by_source

    tol = {k: v for k, v in tolerances.items() if k in ("rtol", "atol", "elem_rtol", "elem_floor")}
    dtypes = quantized_dtypes(model_dir)
    if dtypes and args.quantized_rtol is None and quantized_only_by_source(source, model_dir, args.input_format):
        # the source's own integers (a quantized ONNX model): the conversion adds no error, as plain verify says
        print(f"note: {', '.join(dtypes)} weights are the source's own: nodes are held to the float tolerance",
              file=sys.stderr)
    elif dtypes:  # every node then carries the weights' quantization error: hold nodes to the quantized tolerance
        quantized = args.quantized_rtol if args.quantized_rtol is not None else max(
            QUANTIZED_RTOL.get(d, QUANTIZED_RTOL["uint8"]) for d in dtypes)
        tol["rtol"] = max(tol.get("rtol", 0.0), quantized)
        print(f"note: {', '.join(dtypes)} weights: nodes are held to rtol={tol['rtol']:g} (--quantized_rtol)",
              file=sys.stderr)
    signature = {"signature_name": args.signature_name} if args.signature_name else None
    report = trace_model(source, model_dir, inputs=inputs, input_format=args.input_format, backends=backends,
                         limit=args.trace_limit or DEFAULT_TRACE_LIMIT, quiet=args.json, convert_options=signature,
                         **tol)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_trace(report), file=sys.stdout)
    if not report.passed:
        bad = report.first_failure
        if bad is None:
            raise VerificationError("--trace paired no TF.js node with a source node, so it compared nothing")
        raise VerificationError(f"TF.js node {bad.node!r} ({bad.op}) is the first to differ from the source "
                                f"({', '.join(bad.sources)})")
    return 0
