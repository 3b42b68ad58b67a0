"""Canaries: payloads that leave a file behind if (and only if) something executed code from a model.

A test builds a hostile model around :meth:`Canary.lambda_body` or :meth:`Canary.pickle_payload`,
removes the canary file (building the model may legitimately run the function once), converts, and
asserts with :meth:`Canary.assert_not_run` that nothing ran it again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


class _ExecOnUnpickle:
    """Unpickling this object calls ``exec`` with a line that writes the canary file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.path!r}, 'w').write('executed')",))


class Canary:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def lambda_body(self) -> Callable[[Any], Any]:
        """A function for a Keras Lambda layer: writes the canary, returns ``x * 2``."""
        target = str(self.path)  # tf_keras stores closure values as JSON: keep it a string

        def body(x: Any) -> Any:
            with open(target, "w") as f:
                f.write("executed")
            return x * 2.0

        return body

    def pickle_payload(self) -> _ExecOnUnpickle:
        """An object whose unpickling (pickle, torch.load(weights_only=False)) writes the canary."""
        return _ExecOnUnpickle(str(self.path))

    def arm(self) -> Canary:
        """Forget earlier (legitimate) runs, e.g. Keras calling a Lambda while building the model."""
        self.path.unlink(missing_ok=True)
        return self

    @property
    def fired(self) -> bool:
        return self.path.exists()

    def assert_not_run(self) -> None:
        assert not self.path.exists(), f"code from the model file ran: {self.path} was written"
