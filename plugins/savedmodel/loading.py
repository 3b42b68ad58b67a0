"""Load one signature of a SavedModel (or a hub module folder) with TensorFlow, checked first."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tfjsconv.errors import InputError
from tfjsconv.options import ConvertOptions

from .source import DEFAULT_SIGNATURE, HUB_DEFAULT_SIGNATURE, SavedModelInfo, check_loadable, read_saved_model
from .tfimport import import_tf  # light: TensorFlow itself is imported when import_tf() is called

HUB_URL_PREFIXES = ("http://", "https://", "tfhub.dev/", "www.kaggle.com/", "kaggle.com/")


def is_hub_url(source: Any) -> bool:
    """A URL (``https://tfhub.dev/…``, ``https://www.kaggle.com/models/…``) or a ``tfhub.dev/…`` handle."""
    if not isinstance(source, (str, Path)):
        return False
    text = str(source)
    return text.startswith(HUB_URL_PREFIXES) or text.startswith(("http:/", "https:/"))


def reject_urls(source: Any) -> None:
    """There is no network at conversion time: a hub URL or handle must be downloaded first."""
    text = str(source)
    if is_hub_url(source):
        raise InputError(f"{text} is a URL; tfjsconv converts local files only",
                         hint="download the module first (e.g. with tensorflow_hub's resolve(), or the "
                              "'Download' link, then untar it) and pass the local folder")


def resolve_tags(info: SavedModelInfo, options: ConvertOptions, *, hub: bool) -> list[str]:
    """``--saved_model_tags``; a hub module without the default ``serve`` tag-set falls back to no tags."""
    tags = list(options.saved_model_tags or [])
    if hub and tags == ["serve"] and ["serve"] not in info.tag_sets and [] in info.tag_sets:
        return []
    return tags


def resolve_signature(path: Path, options: ConvertOptions, *, hub: bool = False,
                      tf_checks: bool = True) -> tuple[SavedModelInfo, list[str], str]:
    """(the SavedModel, the tag-set, the signature name) the options select, checked before TF loads it
    (``tf_checks=False``: without the checks that need TF's op registry, for the TF-free reader)."""
    reject_urls(path)
    info = read_saved_model(path)
    tags = resolve_tags(info, options, hub=hub)
    name = options.signature_name or (HUB_DEFAULT_SIGNATURE if hub else DEFAULT_SIGNATURE)
    _check_bounds(path, info, tags, name, options)  # first: the other checks walk every node
    check_loadable(info, tags, name, tf_checks=tf_checks)
    return info, tags, name


def check_saved_model_bounds(path: Path, options: ConvertOptions) -> None:
    """:func:`_check_bounds` for every MetaGraph, for loaders that revive the whole SavedModel (tf_keras)."""
    from tfjsconv.limits import limits_of

    from .bounds import check_graph_def

    for meta_graph in read_saved_model(path).proto.meta_graphs:
        check_graph_def(meta_graph.graph_def, limits_of(options), str(path))


def _check_bounds(path: Path, info: SavedModelInfo, tags: list[str], name: str, options: ConvertOptions) -> None:
    """Refuse recursive, too deeply nested or too large function libraries before TensorFlow inlines them."""
    from tfjsconv.limits import limits_of

    from .bounds import check_graph_def, signature_roots

    graph_def = info.meta_graph(tags).graph_def
    signature = info.signature(tags, name)
    tensors = [t.name for t in (*signature.inputs.values(), *signature.outputs.values())]
    check_graph_def(graph_def, limits_of(options), str(path), roots=signature_roots(graph_def, tensors))


@contextlib.contextmanager
def load_signature(path: Path, options: ConvertOptions, *, hub: bool = False) -> Iterator[Any]:
    """Yield the signature's ConcreteFunction; the loaded object lives until the block ends."""
    _, tags, name = resolve_signature(path, options, hub=hub)
    with load_resolved_signature(path, tags, name) as fn:
        yield fn


@contextlib.contextmanager
def load_resolved_signature(path: Path, tags: list[str], name: str) -> Iterator[Any]:
    """:func:`load_signature` for a tag-set and signature :func:`resolve_signature` already checked."""
    tf = import_tf()
    try:
        loaded = tf.saved_model.load(str(path), tags=tags)
    except Exception as err:  # TF's errors are long; keep the first line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"TensorFlow cannot load the SavedModel {path}: {first}") from None
    signatures = getattr(loaded, "signatures", {}) or {}
    if name not in signatures:
        raise InputError(f"{path} has no signature {name!r}",
                         hint=f"signatures: {', '.join(sorted(signatures)) or 'none'}; pass --signature_name")
    yield signatures[name]
    del loaded
