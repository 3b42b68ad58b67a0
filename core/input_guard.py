"""One net under every frontend's ``load``: a parser library choking on a hostile file is the file's fault.

Frontends turn the failures they expect into :class:`~tfjsconv.errors.InputError` themselves. What
they miss - h5py, protobuf, onnx, zipfile or json rejecting a corrupt file, a declared size too
large to allocate, nesting too deep to walk - still means "this input is broken", so it becomes one
InputError naming the file and the library instead of a bug report. Blame goes by the exception's
type and the library that raised it (:data:`PARSE_ERRORS`), never by location alone: a TypeError
from ``json.dumps`` called by our own code, or a KeyError in a plugin's callback, stays a bug
(exit 1), for fuzzing to find and for us to fix.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import InputError, TfjsconvError

#: Per parsing library (top-level module), the exception types it raises for bytes it cannot parse.
#: An exception is the input's only when it is one of these types AND the innermost Python frame
#: that raised it is that library's: a TypeError from ``json.dumps`` on our own data stays a bug.
PARSE_ERRORS: dict[str, tuple[str, ...]] = {
    "h5py": ("OSError", "KeyError", "ValueError", "IndexError", "RuntimeError"),
    "google": ("DecodeError", "ValueError"),  # protobuf (EncodeError is ours: a message we built)
    "onnx": ("DecodeError", "ValidationError", "InferenceError", "ValueError"),
    "zipfile": ("BadZipFile", "LargeZipFile", "EOFError", "ValueError", "OSError"),
    "json": ("JSONDecodeError",),
    "gzip": ("BadGzipFile", "EOFError", "error"),
    "tarfile": ("TarError", "ReadError", "HeaderError", "EOFError"),
    "safetensors": ("SafetensorError", "ValueError"),
}
#: Raised by C decoders called straight on the input's bytes (no Python frame of their own), told apart
#: from our own misuse of the same module by the call named in the message: ``struct.error`` from an
#: *unpack* (a buffer shorter than its declared layout; a failing ``pack`` is ours), ``zlib.error`` from
#: *decompressing* (corrupt deflate data).
DECODER_ERRORS = {"struct.error": "unpack", "zlib.error": "decompress"}


def _raised_in(err: BaseException) -> str | None:
    """The top-level module of the innermost Python frame that raised ``err``."""
    tb = err.__traceback__
    name = None
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__")
        tb = tb.tb_next
    return str(name).split(".")[0] if name else None


def _type_names(err: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(err).__mro__}


def blamed_library(err: BaseException) -> str | None:
    """The parsing library that rejected the input's bytes, or None when ``err`` is a bug (ours or a plugin's)."""
    kind = f"{type(err).__module__}.{type(err).__name__}"
    if kind in DECODER_ERRORS:
        return type(err).__module__ if DECODER_ERRORS[kind] in str(err) else None
    library = _raised_in(err)
    if library in PARSE_ERRORS and _type_names(err) & set(PARSE_ERRORS[library]):
        return library
    return None


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@contextlib.contextmanager
def input_errors(source: Any, frontend: str) -> Iterator[None]:
    """Re-raise a parser library's exception (and MemoryError, RecursionError) as an InputError."""
    try:
        yield
    except TfjsconvError:
        raise
    except MemoryError:
        raise InputError(f"{source}: reading it as {frontend} needs more memory than is available "
                         "(the file declares sizes far beyond its real content?)",
                         hint="the file may be corrupt or hostile") from None
    except RecursionError:
        raise InputError(f"{source} is nested too deeply to read as {frontend}",
                         hint="the file may be corrupt or hostile") from None
    except Exception as err:
        library = blamed_library(err)
        if library is None:
            raise
        raise InputError(f"{source} cannot be read as {frontend}: {library} failed with {_reason(err)}",
                         hint="the file is truncated, corrupt, or not this kind of model") from err
