"""Every feature the TF-free reader refuses in one signature, named in one error.

The reader checks a signature in several places (variable writes, ops in called functions, tables it
cannot fill); stopping at the first would make the user fix one thing, convert again, and meet the
next. :class:`Refusals` runs each check, keeps what it refuses, and raises once: the single refusal as
before, or :class:`RefusedFeatures` (a :class:`NotTfFree`, so the callers' ``refusal(path)`` applies)
naming each feature and where it was met.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfjsconv.errors import InputError, TfjsconvError

from .graphdef_ir import NotTfFree

#: Features named in full before "... and N more"; places named per feature.
SHOWN_FEATURES, SHOWN_PLACES = 6, 5


class RefusedFeatures(NotTfFree):
    """Several refused features at once: ``found`` maps feature -> the places it was met; ``tf_can`` is
    False when one of them (a variable write) TensorFlow's loader refuses too."""

    def __init__(self, found: dict[str, list[str]], *, tf_can: bool) -> None:
        self.found, self.tf_can = found, tf_can
        parts = []
        for feature, places in list(found.items())[:SHOWN_FEATURES]:
            more = f" ... and {len(places) - SHOWN_PLACES} more" if len(places) > SHOWN_PLACES else ""
            parts.append(f"{feature.replace('_', ' ')} ({'; '.join(places[:SHOWN_PLACES])}{more})")
        if len(found) > SHOWN_FEATURES:
            parts.append(f"... and {len(found) - SHOWN_FEATURES} more")
        super().__init__("several_features", "; ".join(parts))

    def refusal(self, path: Any) -> InputError:
        way_out = super().refusal(path).hint
        hint = way_out if self.tf_can else (
            "a TF.js graph model cannot write variables (export a signature that only reads them); for the "
            f"other features: {way_out}")
        return InputError(f"{getattr(path, 'name', path) or path}: the TF-free reader does not cover "
                          f"{len(self.found)} feature(s) of this signature: {self.detail}", hint=hint)


class Refusals:
    """The refusals of one signature's checks, raised together by :meth:`raise_if_any`."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []
        self.found: dict[str, list[str]] = {}

    def check(self, step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``step(*args, **kwargs)``, its refusal (NotTfFree, a variable write) kept; None when refused."""
        from .tf_free_control_flow import VariableWriteError

        try:
            return step(*args, **kwargs)
        except (NotTfFree, VariableWriteError) as why:
            self.keep(why)
        return None

    def keep(self, why: Exception) -> None:
        """Keep a refusal (:class:`NotTfFree`, :class:`RefusedFeatures` or a ``VariableWriteError``)."""
        if isinstance(why, RefusedFeatures):
            for feature, places in why.found.items():
                self.add(why, feature, places)
        elif isinstance(why, NotTfFree):
            self.add(why, why.feature, [why.detail])
        else:  # VariableWriteError: op -> nodes
            self.add(why, "variable_write", [f"{op} at {name}" for op, names in why.ops.items() for name in names])

    def add(self, error: Exception, feature: str, places: list[str]) -> None:
        if error not in self.errors:
            self.errors.append(error)
        known = self.found.setdefault(feature, [])
        known.extend(p for p in places if p not in known)

    def raise_if_any(self) -> None:
        """Nothing refused: return. One check refused: its own error. More: one :class:`RefusedFeatures`."""
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise self.errors[0]
        tf_can = not any(isinstance(e, TfjsconvError) for e in self.errors)  # VariableWriteError
        raise RefusedFeatures(dict(self.found), tf_can=tf_can)
