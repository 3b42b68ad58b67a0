"""The ``tfjsconv`` command: ``convert | verify | inspect | bench | serve | plugins | ops``.

Every expected failure is a :class:`~tfjsconv.errors.TfjsconvError`, printed as one short block
with exit code 2 (3 for a failed verification); ``--debug`` shows the traceback. Anything else is a
bug: a short report with versions and exit code 1.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

# Before anything imports numpy (a user's own value wins): OpenBLAS starts a thread per core at import,
# which costs ~0.08 s of CPU on every run; a conversion's few matrix products do not need them.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ..errors import TfjsconvError, UsageError  # noqa: E402
from ..version import __version__  # noqa: E402
from . import convert_cmd, startup_gc  # noqa: E402
from .flags import ClearArgumentParser  # noqa: E402

#: The commands, in the order of the help; each is the module ``<name>_cmd`` (``add_parser`` and ``run``).
COMMANDS = ("convert", "verify", "inspect", "bench", "serve", "plugins", "ops")


def command_module(name: str) -> ModuleType:
    """The module of the command ``name``, imported on first use."""
    return importlib.import_module(f".{name}_cmd", __name__)


def _commands_to_build(argv: Sequence[str]) -> Sequence[str]:
    """Only the command that runs, when the arguments name it before any top-level flag (its own help and
    errors need no other); every command for the top-level help. The other six parsers and their modules
    cost a few milliseconds on every conversion."""
    for token in argv:
        if token in COMMANDS:
            return (token,)
        if token.startswith("-"):
            break
    return COMMANDS


def build_parser(commands: Sequence[str] = COMMANDS) -> ClearArgumentParser:
    parser = ClearArgumentParser(
        prog="tfjsconv",
        description="Convert TensorFlow, Keras, ONNX and PyTorch models to TensorFlow.js, and verify them in real TF.js.",
        epilog="`tfjsconv INPUT OUTPUT [flags]` is short for `tfjsconv convert INPUT OUTPUT [flags]`.",
    )
    parser.add_argument("--version", "-v", action="version", version=f"tfjsconv {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands:
        command_module(name).add_parser(sub)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """``tfjsconv in out --flags`` (the official converter's shape) means ``tfjsconv convert …``."""
    top_level = {"-h", "--help", "-v", "--version", "--debug"}
    for i, token in enumerate(argv):
        if token in top_level:
            continue
        if token in COMMANDS:
            return argv
        _refuse_misspelt_command(token)
        return argv[:i] + ["convert"] + argv[i:]
    return argv


def _refuse_misspelt_command(token: str) -> None:
    """``tfjsconv covert a.keras out``: a near-miss of a command that is no file is a typo, not an input."""
    import difflib

    if token.startswith("-") or os.path.exists(token) or os.sep in token or "." in token:
        return
    close = difflib.get_close_matches(token, list(COMMANDS), n=1, cutoff=0.6)
    if close:
        raise UsageError(f"unknown command {token!r}; did you mean {close[0]!r}?",
                         hint=f"commands: {', '.join(COMMANDS)}; `tfjsconv INPUT OUTPUT` converts")


#: Distributions named in a bug report when installed (read from metadata; nothing is imported).
REPORTED_DISTRIBUTIONS = ("numpy", "h5py", "onnx", "onnxruntime", "tensorflow", "tensorflow-cpu", "tf_keras",
                          "keras", "torch", "protobuf", "pluggy")


def installed_versions() -> dict[str, str]:
    """``{distribution: version}`` for the libraries a conversion may have used."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in REPORTED_DISTRIBUTIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _bug_report(err: BaseException) -> str:
    import platform  # only for a bug report: a millisecond or two on every run otherwise

    where = ""
    tb = traceback.extract_tb(err.__traceback__)
    if tb:
        where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})"
    text = str(err).strip().splitlines()[0][:500] if str(err).strip() else ""
    libraries = ", ".join(f"{k} {v}" for k, v in installed_versions().items()) or "none"
    return (
        f"tfjsconv {__version__} hit an unexpected error: {type(err).__name__}: {text}{where}\n"
        f"  python {platform.python_version()} on {platform.platform()}\n"
        f"  libraries: {libraries}\n"
        "  This is a bug in tfjsconv or a plugin; rerun with --debug for the traceback and report it."
    )


def _silence_stdout() -> None:
    """After a broken pipe, Python's exit-time flush of stdout would fail again: point it at devnull."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _os_error_message(err: OSError) -> str:
    """A file operation names its file; a full disk says so; other system errors are just reported."""
    import errno

    if err.filename:
        where = f" {err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
        return (f"error: cannot access{where}: {err.strerror or err}\n"
                "  hint: check the path, its permissions and the free disk space")
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"error: the disk is full: {err.strerror or err}\n  hint: free some space or write elsewhere"
    return f"error: the system refused an operation: {err.strerror or err}"


def _interrupted_message(command: str | None) -> str:
    """What Ctrl-C leaves: ``convert`` publishes its output folder whole or not at all; the other commands
    write nothing, so "nothing was written" would only say that a verify or inspect stopped without a result."""
    if command in (None, "convert"):
        return "interrupted; nothing was written"
    if command == "verify":
        return "interrupted; verify stopped before its verdict"
    return f"interrupted; {command} stopped before it finished"


def _caused_by_interrupt(err: BaseException) -> bool:
    """Whether ``err`` was raised while handling (or from) a KeyboardInterrupt (a Ctrl-C or SIGTERM)."""
    seen = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


#: Set by :func:`_raise_interrupt`: an interrupt that code in between swallowed (numpy's import turns a Ctrl-C
#: into an ImportError that does not name it) is still reported as an interruption.
_interrupts: list[int] = []


def _raise_interrupt(signum: int, frame: object) -> None:
    _interrupts.append(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a CI timeout) unwinds like Ctrl-C, so a half-written output is cleaned up; both are
    remembered (an ignored Ctrl-C, e.g. a background job's, stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _interrupts.clear()
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    from .quiet_stderr import filtered_stderr

    # Before anything can import TF (a user's own value wins); TF 2.21 still prints its start-up lines,
    # which filtered_stderr() keeps off the terminal.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _sigterm_as_interrupt(), filtered_stderr():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("TFJSCONV_DEBUG"))
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere: `tfjsconv convert a b --debug`
    command = None
    try:
        argv = convert_cmd.normalize(_with_default_command(argv))
        parser = build_parser(_commands_to_build(argv))
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        command = args.command
        if command != "convert":  # convert resumes once it has imported the conversion machinery
            startup_gc.resume()
        return command_module(command).run(args)
    except TfjsconvError as err:
        if debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # `tfjsconv ops | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    except OSError as err:  # the machine, not the model or tfjsconv: a missing/unreadable file, a full disk
        if debug:
            traceback.print_exc()
        print(_os_error_message(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        if getattr(err, "output_written", False):  # the swap of the outputs was finished first
            print("interrupted after the output was written in full", file=sys.stderr)
        else:
            print(_interrupted_message(command), file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence prints a report, not a traceback
        if debug:
            traceback.print_exc()
        if _interrupts or _caused_by_interrupt(err):  # Ctrl-C inside an import: numpy makes it an ImportError
            print(_interrupted_message(command), file=sys.stderr)
            return 130
        print(_bug_report(err), file=sys.stderr)
        return 1


def run() -> None:
    """The ``tfjsconv`` console command: :func:`main`, then a quick exit (also after argparse's own exits,
    ``--help``, ``--version`` and flag errors)."""
    startup_gc.pause()
    try:
        code = main()
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
    exit_now(code)


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown, which frees every module and object one by one (tens of
    milliseconds after a conversion, for nothing). Everything a normal exit must still do is done first:
    other threads are stopped and joined (threading's exit hooks first), the ``atexit`` functions run
    (temporary folders, ``weakref.finalize`` cleanups, logging) and the standard streams flushed. Output files are closed and published before
    :func:`main` returns, so none is left half-written. Under a profiler or tracer (``python -m cProfile``,
    coverage) the normal exit runs, so they can write their results."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        raise SystemExit(code)
    current = threading.current_thread()
    if current is threading.main_thread() and hasattr(threading, "_shutdown"):
        # What Python's own exit does first: threading's exit hooks, then a join of every non-daemon thread.
        # The hooks matter: an idle ThreadPoolExecutor's workers wait until its hook tells them to stop.
        threading._shutdown()
    else:
        for thread in threading.enumerate():
            if thread is not current and not thread.daemon:
                thread.join()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a closed pipe (`tfjsconv ops | head`) has nothing left to receive
            pass
        except OSError:  # a full disk or an I/O error lost output: never exit 0 then (Python's own exit gives 120)
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    run()
