"""One error hierarchy for every expected failure.

The CLI catches :class:`TfjsconvError`, prints its message (what, where, what to do) and exits with
``exit_code``; anything else is a bug and gets a short report instead.
"""
from __future__ import annotations


class TfjsconvError(Exception):
    """An expected failure with a message written for the user."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(TfjsconvError):
    """Bad or contradictory flags / arguments."""


class MissingInputsError(UsageError):
    """A source model's reference run lacks values for some of its inputs (``missing`` names them)."""

    def __init__(self, message: str, missing: list[str], **kwargs: object) -> None:
        super().__init__(message, **kwargs)
        self.missing = list(missing)


class InputError(TfjsconvError):
    """The input model is missing, unreadable, corrupt or of an unknown format."""


class UnsafeInputError(InputError):
    """Loading the input would execute code from the file; needs --allow_unsafe_deserialization."""


class GraphError(TfjsconvError):
    """The graph is malformed: dangling inputs, cycles, duplicate names."""


class UnsupportedOpsError(TfjsconvError):
    """The graph uses ops TF.js cannot run. ``ops`` maps op type -> node names."""

    def __init__(self, ops: dict[str, list[str]], *, hint: str | None = None) -> None:
        self.ops = {op: sorted(names) for op, names in sorted(ops.items())}
        lines = [f"{len(self.ops)} op type(s) are not supported by TensorFlow.js 4.22:"]
        for op, names in self.ops.items():
            shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
            lines.append(f"  {op}: {shown}")
        super().__init__("\n".join(lines), hint=hint)


class OpProblemsError(UnsupportedOpsError):
    """Nodes a pass cannot make TF.js compute, on one line: ``ops`` maps op -> ``node (why)`` entries."""

    def __init__(self, problems: dict[str, list[str]], what: str, *, hint: str | None = None) -> None:
        self.ops = {op: sorted(set(entries)) for op, entries in sorted(problems.items())}
        where = "; ".join(f"{op} at {', '.join(entries)}" for op, entries in self.ops.items())
        TfjsconvError.__init__(self, f"{what}: {where}", hint=hint)


class OutputError(TfjsconvError):
    """The output folder exists, or writing it failed (nothing partial is left behind)."""


class WeightsError(TfjsconvError):
    """A weights manifest or shard is inconsistent with its data."""


class PluginError(TfjsconvError):
    """A plugin failed to load or registered something invalid."""


class RuntimeMissingError(TfjsconvError):
    """Node.js / npm, needed to run TF.js, is missing or failed to install the runtime."""


class VerificationError(TfjsconvError):
    """TF.js ran the model but its outputs differ from the reference beyond tolerance.

    Exit code 3 keeps "the model is wrong" apart from "you called me wrong" (2) and "tfjsconv has a bug" (1).
    """

    exit_code = 3


class BackendUnsupportedError(TfjsconvError):
    """TF.js knows every op, but some nodes cannot run on a target backend (missing kernel, dtype, attr).

    ``problems`` is a list of :class:`tfjsconv.ops.backends.Problem` (op, node, backend, reason).
    """

    def __init__(self, problems: list, *, backends: tuple[str, ...] = ()) -> None:
        self.problems = sorted(problems)
        self.backends = tuple(backends)
        failing = sorted({p.backend for p in self.problems})
        backends_of: dict[tuple[str, str, str], list[str]] = {}
        for p in self.problems:
            backends_of.setdefault((p.op, p.node, p.reason), []).append(p.backend)
        nodes_of: dict[tuple[str, str, str], list[str]] = {}
        for (op, node, reason), bs in backends_of.items():
            nodes_of.setdefault((op, "/".join(sorted(bs)), reason), []).append(node)
        parts = []
        for (op, backends_text, reason), nodes in sorted(nodes_of.items()):
            more = f", ... ({len(nodes) - 5} more)" if len(nodes) > 5 else ""
            parts.append(f"{op} on {backends_text} ({reason}): {', '.join(sorted(nodes)[:5])}{more}")
        shown = "; ".join(parts)
        message = (f"{len({p.node for p in self.problems})} node(s) cannot run on target backend(s) "
                   f"{', '.join(failing)} of TensorFlow.js 4.22: {shown}")
        runnable = [b for b in self.backends if b not in failing] or (["cpu"] if "cpu" not in failing else [])
        narrow = (f"convert for the backends that run it (--target_backends={','.join(runnable)}), "
                  if runnable else "")
        hint = (f"{narrow}change the model, or pass --skip_op_check to write it anyway (it then fails on "
                "those backends at run time); see docs/backends.md")
        super().__init__(message, hint=hint)
