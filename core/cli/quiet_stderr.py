"""Keep TensorFlow's C++ start-up chatter (oneDNN, cudart, cuInit, absl) off the user's terminal.

TF 2.21 logs these lines through absl before ``TF_CPP_MIN_LOG_LEVEL`` is read, straight to file
descriptor 2, so no Python setting silences them. When a CLI run is about to import TensorFlow
(an import hook sees the first ``import tensorflow``), fd 2 becomes a pipe read by a forked filter
process that forwards everything except those lines to the real stderr. A process, not a thread:
if the run crashes (a segfault, a fatal ``CHECK``), the filter still drains the pipe, so the crash
report reaches the user. Partial lines that cannot be the start of a noise line are forwarded at
once, so progress output (``\\r`` updates) is not delayed. Runs that never load TF fork nothing.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator

#: A whole line of TF's start-up noise (the ``I0000 00:00:1796307310.751205   21281 port.cc:153]`` shape).
NOISE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                   rb"|[IWE]\d{4} [\d:.]+ +\d+ (port|cudart_stub|cuda_platform|cuda_executor|cuda_dnn|cuda_fft|"
                   rb"cuda_blas|cpu_feature_guard|computation_placer|cuda_diagnostics|devices|single_machine)"
                   rb"\.cc:\d+\] .*"
                   rb"|To enable the following instructions: .*|TF-TRT Warning: .*)\r?$")
#: How noise lines begin: a partial line that could still become one is held back until it ends.
NOISE_STARTS = (b"WARNING: All log messages", b"I0", b"W0", b"E0", b"To enable the following", b"TF-TRT")
#: Top-level modules whose import starts TensorFlow's logging.
TENSORFLOW_MODULES = frozenset({"tensorflow"})


def _maybe_noise(partial: bytes) -> bool:
    return any(start.startswith(partial) or partial.startswith(start) for start in NOISE_STARTS)


def forward(read_fd: int, out_fd: int) -> None:
    """Copy ``read_fd`` to ``out_fd`` until end of file, leaving out the noise lines."""
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        kept = [line + b"\n" for line in lines if not NOISE.match(line)]
        if pending and not _maybe_noise(pending):
            kept.append(pending)
            pending = b""
        if kept:
            with contextlib.suppress(OSError):
                os.write(out_fd, b"".join(kept))
    if pending and not NOISE.match(pending):
        with contextlib.suppress(OSError):
            os.write(out_fd, pending)


class _Filter:
    """fd 2 through a forked filter process, from :meth:`start` until :meth:`stop`."""

    def __init__(self) -> None:
        self.saved: int | None = None
        self.child: int | None = None

    def start(self) -> None:
        if self.child is not None:
            return
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        saved = os.dup(2)
        # Ctrl-C (and `kill -TERM -PGID`) reaches the whole process group: the filter must outlive it, or the
        # run's last words ("interrupted; …") go into a pipe nobody reads. The filter keeps both blocked for
        # good (from any thread, unlike handlers) and ends at end of file, once the run's write ends close.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            raise
        if pid == 0:  # the filter: only raw fd work here, then leave without running Python's exit code
            try:
                os.close(write_fd)
                forward(read_fd, saved)
            finally:
                os._exit(0)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.close(read_fd)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.saved, self.child = saved, pid

    def stop(self) -> None:
        if self.child is None:
            return
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(self.saved, 2)  # this process's last write end closes: the filter drains and exits
        os.close(self.saved)
        _wait(self.child, timeout=2.0)  # a child process of ours may still hold the pipe: do not hang on it
        self.saved = self.child = None


def _wait(pid: int, *, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.01)


class _StartOnTensorFlowImport:
    """Starts the filter when TensorFlow is first imported, then lets the normal finders find it.

    A meta path finder needs only ``find_spec`` (importlib.abc's base class would import importlib.resources).
    """

    def __init__(self, stderr_filter: _Filter) -> None:
        self.filter = stderr_filter

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name in TENSORFLOW_MODULES:
            self.filter.start()
        return None


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Filter fd 2 once TensorFlow loads; a no-op when stderr is not the process's fd 2 (tests capturing
    it), on platforms without ``fork``, or with ``TFJSCONV_RAW_STDERR`` set."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if not real or not hasattr(os, "fork") or os.environ.get("TFJSCONV_RAW_STDERR"):
        yield
        return
    stderr_filter = _Filter()
    if any(name in sys.modules for name in TENSORFLOW_MODULES):
        stderr_filter.start()  # already loaded: its later lines (cuInit at the first op) are still filtered
    finder = _StartOnTensorFlowImport(stderr_filter)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)
        stderr_filter.stop()
