"""Output writers: one per ``--output_format``. Every writer writes through :func:`atomic_output_dir`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..model import Model
from ..options import ConvertOptions
from .atomic import atomic_output_dir


class Writer:
    """Writes a :data:`~tfjsconv.model.Model` into an (empty, temporary) folder.

    The caller owns atomicity: ``write`` gets a staging folder that is renamed into place only if
    it returns. ``write`` returns a dict of facts for the conversion report.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def accepts(self, model: Model) -> bool:
        raise NotImplementedError

    def write(self, model: Model, staging_dir: Path, options: ConvertOptions) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Writer {self.name}>"


__all__ = ["Writer", "atomic_output_dir"]
