"""The contract between the core and a source format."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .options import ConvertOptions

if TYPE_CHECKING:  # annotations only: declaring a frontend (tfjsconv.lazy) must not import numpy
    import numpy as np

    from .model import Model


class Frontend:
    """Turns one kind of source (a path, or an in-memory object) into a :data:`~tfjsconv.model.Model`.

    Subclasses set ``name`` (the ``--input_format`` value), ``output_formats`` (the first is the
    default) and implement :meth:`load`; :meth:`detect` lets ``--input_format`` be omitted and
    :meth:`reference` lets ``tfjsconv verify`` compare with the source framework.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    output_formats: ClassVar[tuple[str, ...]] = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        """Cheaply say whether ``source`` is ours (look at suffixes and magic bytes, not whole files)."""
        return False

    def claims_remote(self, source: Any) -> bool:
        """Whether ``source`` is a remote address (a URL, a hub handle) this format is published at.

        Asked only for a source that is not an existing path; a frontend that claims it is selected,
        so that its :meth:`load` can say what to do (e.g. download it first) instead of the core's
        "does not exist".
        """
        return False

    def load(self, source: Any, options: ConvertOptions) -> Model:
        raise NotImplementedError

    def describe(self, source: Any, options: ConvertOptions) -> dict[str, Any]:
        """Facts about the source that its graph does not show (``tfjsconv inspect`` prints them).

        E.g. a SavedModel's tags and signatures, or a Keras file's Keras version. JSON-able values
        only; the default has none.
        """
        return {}

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions) -> dict[str, np.ndarray]:
        """Run the source model in its own framework on ``inputs`` (keys: signature input names)."""
        raise NotImplementedError(f"the {self.name} frontend has no reference runner")

    def trace_reference(self, source: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str],
                        options: ConvertOptions) -> dict[str, list[np.ndarray]]:
        """The values the source framework computes for the source nodes ``sources`` (the names
        provenance records: TF nodes, ONNX nodes, Keras layers), each as its outputs in order, in the
        source's own layout. Names it does not know are left out. Used by ``verify --trace``."""
        raise NotImplementedError(f"the {self.name} frontend cannot expose intermediate tensors for --trace")

    def __repr__(self) -> str:
        return f"<Frontend {self.name}>"


def as_path(source: Any) -> Path | None:
    """``source`` as a Path when it is a str/PathLike, else None (in-memory models)."""
    if isinstance(source, (str, Path)):
        return Path(source)
    if hasattr(source, "__fspath__"):
        return Path(source)
    return None
