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
