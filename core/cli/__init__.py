"""The ``tfjsconv`` command: ``convert | verify | plugins | ops``.

Every expected failure is a :class:`~tfjsconv.errors.TfjsconvError`, printed as one short block
with exit code 2 (3 for a failed verification); ``--debug`` shows the traceback. Anything else is a
bug: a short report with versions and exit code 1.
"""
from __future__ import annotations

import os
import platform
import sys
import traceback
from collections.abc import Sequence

from ..errors import TfjsconvError
from ..version import __version__
from . import convert_cmd, ops_cmd, plugins_cmd, verify_cmd
from .flags import ClearArgumentParser

COMMANDS = {"convert": convert_cmd, "verify": verify_cmd, "plugins": plugins_cmd, "ops": ops_cmd}


def build_parser() -> ClearArgumentParser:
    parser = ClearArgumentParser(
        prog="tfjsconv",
        description="Convert TensorFlow, Keras, ONNX and PyTorch models to TensorFlow.js, and verify them in real TF.js.",
        epilog="`tfjsconv INPUT OUTPUT [flags]` is short for `tfjsconv convert INPUT OUTPUT [flags]`.",
    )
    parser.add_argument("--version", "-v", action="version", version=f"tfjsconv {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """``tfjsconv in out --flags`` (the official converter's shape) means ``tfjsconv convert …``."""
    top_level = {"-h", "--help", "-v", "--version", "--debug"}
    for i, token in enumerate(argv):
        if token in top_level:
            continue
        if token in COMMANDS:
            return argv
        return argv[:i] + ["convert"] + argv[i:]
    return argv


def _bug_report(err: BaseException) -> str:
    return (
        f"tfjsconv {__version__} hit an unexpected error: {type(err).__name__}: {err}\n"
        f"  python {platform.python_version()} on {platform.platform()}\n"
        "  This is a bug in tfjsconv or a plugin; rerun with --debug for the traceback and report it."
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("TFJSCONV_DEBUG"))
    try:
        argv = convert_cmd.normalize(_with_default_command(argv))
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        return COMMANDS[args.command].run(args)
    except TfjsconvError as err:
        if debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence prints a report, not a traceback
        if debug:
            traceback.print_exc()
        print(_bug_report(err), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
