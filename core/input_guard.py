"""One net under every frontend's ``load``: a parser library choking on a hostile file is the file's fault.

Frontends turn the failures they expect into :class:`~tfjsconv.errors.InputError` themselves. What
they miss - h5py, protobuf, onnx, zipfile or json raising deep inside a corrupt file, a declared
size too large to allocate, nesting too deep to walk - still means "this input is broken", so it
becomes one InputError naming the file and the library instead of a bug report. Exceptions raised
by tfjsconv's own code stay bugs (exit 1): those are for fuzzing to find and for us to fix.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import InputError, TfjsconvError

#: Top-level modules that parse untrusted bytes; an exception raised inside them is the input's.
PARSER_MODULES = frozenset({"h5py", "google", "onnx", "zipfile", "json", "zlib", "gzip", "tarfile", "struct",
                            "safetensors"})


def _raised_in(err: BaseException) -> str | None:
    """The top-level module of the innermost Python frame that raised ``err``."""
    tb = err.__traceback__
    name = None
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__")
        tb = tb.tb_next
    return str(name).split(".")[0] if name else None


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
        library = _raised_in(err)
        if library not in PARSER_MODULES:
            raise
        raise InputError(f"{source} cannot be read as {frontend}: {library} failed with {_reason(err)}",
                         hint="the file is truncated, corrupt, or not this kind of model") from err
