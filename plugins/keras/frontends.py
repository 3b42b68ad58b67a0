"""The ``keras`` (``.h5``) and ``keras_keras`` (``.keras``) frontends: files -> TF.js layers or graph models.

Layers models (the default) are made from the files with h5py alone (never TensorFlow or Keras):
code and TF.js gaps are refused with one message (:mod:`.checks`), the config is translated
(:mod:`.translate`) and the weights go to the writer as lazy arrays, so they stream from the file
into the shards one at a time. Graph models (``--output_format=tfjs_graph_model``) are lowered from
the config with h5py too (:mod:`.lowering`); a layer it does not cover is refused, naming every
uncovered layer, with the way out: ``--loader=tensorflow``, where after the same code check Keras
loads the file in safe mode and the SavedModel plugin traces it (:mod:`.keras_graph`), the only path
that runs code (custom layers a user registers). :data:`LOWERING_ONLY` False restores the old fallback.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError, UsageError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.ir import Graph
from tfjsconv.limits import limits_of
from tfjsconv.model import LayersModel, Model
from tfjsconv.options import ConvertOptions

from .checks import check_model_config
from .layer_backends import check_layer_backends, layer_special_value_notice
from .configs import keras_major
from .model_graph import check_model_graph
from .translate import to_tfjs_model_config
from .weight_shapes import check_weight_shapes

from .detect import H5_SUFFIXES, is_keras_archive, is_keras_h5  # noqa: F401 - H5_SUFFIXES: kept importable here
GRAPH_MODEL = "tfjs_graph_model"
#: True (the default since issue 16): a Keras graph model comes from the lowering alone, the TensorFlow
#: tracer runs only with ``--loader=tensorflow``, and a lowering gap is refused naming every uncovered
#: layer. False: a gap falls back to the tracer silently (the behaviour before).
LOWERING_ONLY = True


def _input_path(source: Any, frontend: str) -> Path:
    path = as_path(source)
    if path is None:
        raise UsageError(f"the {frontend} frontend reads files; got a {type(source).__name__}",
                         hint="pass the path of a saved model")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    return path


@dataclasses.dataclass
class KerasFileInfo:
    """What a Keras file says about its model, read without its weights."""

    model_config: dict[str, Any]
    keras_version: str
    backend: str = "tensorflow"
    training_config: dict[str, Any] | None = None

    @property
    def keras3(self) -> bool:
        return keras_major(self.keras_version) >= 3


def _checked_config(model_config: Any, source: str) -> dict[str, Any]:
    if not isinstance(model_config, dict) or not isinstance(model_config.get("class_name"), str):
        raise InputError(f"{source}: the model config is not a Keras model config")
    return model_config


def build_layers_model(info: KerasFileInfo, *, source: str, options: ConvertOptions) -> LayersModel:
    """Check and translate a model config (weights are attached by the caller once this passed)."""
    try:  # the config is untrusted JSON: a wrong type or a missing key anywhere means a malformed file
        check_model_config(info.model_config, source=source, keras3=info.keras3,
                           allow_unsafe=options.allow_unsafe_deserialization)
        check_model_graph(info.model_config, source=source)
        check_layer_backends(info.model_config, options.target_backends, source=source,
                             skip_op_check=options.skip_op_check)
        notice = layer_special_value_notice(info.model_config, options.target_backends)
        model_config = to_tfjs_model_config(info.model_config, keras3=info.keras3)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as err:
        raise InputError(f"{source}: the model config is malformed ({type(err).__name__}: {str(err)[:200]})",
                         hint="the file is corrupt or was edited; if Keras saved it as is, this is a tfjsconv "
                              "bug: rerun with --debug and report it") from err
    return LayersModel(
        model_config=model_config,
        weight_groups=[],
        keras_version=info.keras_version,
        backend=info.backend,
        training_config=info.training_config,
        notices=[notice] if notice else [],
    )


class _KerasFileFrontend(Frontend):
    """What both Keras file frontends share: the graph-model path, and Keras as the reference."""

    output_formats = ("tfjs_layers_model", GRAPH_MODEL)

    def read_info(self, path: Path) -> KerasFileInfo:
        raise NotImplementedError

    def load_layers_model(self, path: Path, options: ConvertOptions) -> LayersModel:
        raise NotImplementedError

    def check_before_keras(self, path: Path, options: ConvertOptions) -> KerasFileInfo:
        """The file's info, once everything Keras would read is known safe (no links out, a sane graph)."""
        info = self.read_info(path)
        check_model_graph(info.model_config, source=str(path))
        return info

    def load(self, source: Any, options: ConvertOptions) -> Model:
        path = _input_path(source, self.name)
        if options.output_format == GRAPH_MODEL:
            return self.load_graph_model(path, options)
        return self.load_layers_model(path, options)

    def load_graph_model(self, path: Path, options: ConvertOptions) -> Graph:
        """The lowering (h5py only) when it covers every layer, else Keras + the TensorFlow tracer."""
        from .keras_graph import graph_from_keras_file
        from .lowering import Unsupported, layer_gaps
        from .model_graph import malformed_config
        from .vocabulary_files import vocabulary_files, with_file_vocabularies

        info = self.check_before_keras(path, options)
        allow_unsafe = options.allow_unsafe_deserialization
        check_model_config(info.model_config, source=str(path), keras3=info.keras3, allow_unsafe=allow_unsafe,
                           output_format=GRAPH_MODEL)
        if allow_unsafe and vocabulary_files(info.model_config):  # the user vouched for the paths it names
            info = dataclasses.replace(info, model_config=with_file_vocabularies(info.model_config))
        if options.extra.get("loader") == "tensorflow":
            why = "--loader=tensorflow"
        else:
            with malformed_config(str(path), lowering=True):
                gaps = layer_gaps(info.model_config, str(path), keras3=info.keras3)
            if gaps and LOWERING_ONLY:
                gaps = self._every_gap(path, info, options, gaps)
            more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
            why = f"the lowering does not cover layer {gaps[0]}{more}" if gaps else ""
            if not gaps:
                try:
                    with malformed_config(str(path), lowering=True):
                        graph = self.lower_graph(path, info, options)
                    graph.notes.append("keras: lowered the model config to TF.js ops with h5py (no TensorFlow)")
                    return graph
                except Unsupported as err:
                    why = f"the lowering does not cover {err}"
                    gaps = list(getattr(err, "gaps", None) or [str(err)])  # the walk names every gap it met
            if LOWERING_ONLY:
                raise lowering_refusal(path, gaps, keras3=info.keras3)
        missing = _missing_tracer_packages(keras3=info.keras3)
        if missing:
            raise UsageError(f"{path}: {why}, and the TensorFlow path this model needs is not installed "
                             f"({', '.join(missing)})", hint="pip install " + " ".join(missing))
        graph = graph_from_keras_file(path, keras3=info.keras3, options=options)
        graph.notes.append(f"keras: loaded with Keras and traced through TensorFlow: {why}")
        return graph

    def _every_gap(self, path: Path, info: KerasFileInfo, options: ConvertOptions, gaps: list[str]) -> list[str]:
        """The config's gaps, then those the walk meets past them (a string into a float layer...), so that one
        refusal names them all. Best effort: the model is refused whatever the walk finds."""
        from .lowering import Unsupported

        try:
            self.lower_graph(path, info, options, walk_past_gaps=True)
        except Unsupported as err:
            return list(dict.fromkeys([*gaps, *(getattr(err, "gaps", None) or [str(err)])]))
        except Exception:  # noqa: BLE001 - the walk past gaps only adds names; the refusal stands without them
            return gaps
        return gaps

    def lower_graph(self, path: Path, info: KerasFileInfo, options: ConvertOptions,
                    walk_past_gaps: bool = False) -> Graph:
        raise NotImplementedError

    def describe(self, source: Any, options: ConvertOptions) -> dict[str, Any]:
        info = self.read_info(_input_path(source, self.name))
        return {"keras_version": info.keras_version, "model_class": info.model_config.get("class_name")}

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray],
                  options: ConvertOptions) -> dict[str, np.ndarray]:
        """Keras's own outputs; the file must pass the code checks first (no code reaches Keras)."""
        from .reference import keras_reference, load_keras_model

        path = _input_path(source, self.name)
        info = self.check_before_keras(path, options)
        check_model_config(info.model_config, source=str(path), keras3=info.keras3, output_format=GRAPH_MODEL)
        return keras_reference(load_keras_model(path, keras3=info.keras3), inputs, info.model_config,
                               _converted_output_names(options))

    def trace_reference(self, source: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str],
                        options: ConvertOptions) -> dict[str, list[np.ndarray]]:
        """Each layer's outputs, from a Keras sub-model (same code checks as :meth:`reference`)."""
        from .reference import keras_layer_outputs, load_keras_model

        path = _input_path(source, self.name)
        info = self.check_before_keras(path, options)
        check_model_config(info.model_config, source=str(path), keras3=info.keras3, output_format=GRAPH_MODEL)
        return keras_layer_outputs(load_keras_model(path, keras3=info.keras3), inputs, list(sources))


def _converted_output_names(options: ConvertOptions) -> list[str] | None:
    """The output names of the model being verified (``verify`` passes its folder as ``extra["model_dir"]``)."""
    from tfjsconv.verify.inputs import signature_output_names

    model_dir = (options.extra or {}).get("model_dir")
    return signature_output_names(model_dir) if model_dir else None


class KerasH5Frontend(_KerasFileFrontend):
    """Whole-model HDF5 files from Keras 2 (tf_keras) or Keras 3 (``model.save("m.h5")``)."""

    name = "keras"
    description = "Keras .h5 model (Keras 2 or 3): layers model with h5py alone, or graph model"

    def detect(self, source: Any) -> bool:
        return is_keras_h5(source)

    def read_info(self, path: Path) -> KerasFileInfo:
        from .h5source import H5Source

        h5 = H5Source(path)
        try:
            return self._info(h5)
        finally:
            h5.close()

    @staticmethod
    def _info(h5: Any) -> KerasFileInfo:
        from .h5source import attr_text

        root = h5.file
        config_text = attr_text(root, "model_config")
        if config_text is None:
            raise _not_a_model(h5.path, root)
        model_config = _checked_config(_parse_json(config_text, f"{h5.path}: model_config"), str(h5.path))
        weights_group = root.get("model_weights", root)
        training_text = attr_text(root, "training_config")
        training_config = _parse_json(training_text, "") if training_text else None
        return KerasFileInfo(
            model_config=model_config,
            keras_version=attr_text(root, "keras_version") or attr_text(weights_group, "keras_version") or "2",
            backend=attr_text(root, "backend") or attr_text(weights_group, "backend") or "tensorflow",
            training_config=training_config if isinstance(training_config, dict) else None,
        )

    def lower_graph(self, path: Path, info: KerasFileInfo, options: ConvertOptions,
                    walk_past_gaps: bool = False) -> Graph:
        from .h5source import H5Source
        from .lowering import h5_layer_weights, lower_model

        h5 = H5Source(path)
        try:
            return lower_model(info.model_config, h5_layer_weights(h5), keras3=info.keras3, source=str(path),
                               walk_past_gaps=walk_past_gaps, target_backends=options.target_backends)
        except BaseException:
            h5.close()
            raise

    def load_layers_model(self, path: Path, options: ConvertOptions) -> LayersModel:
        from .h5_weights import h5_weight_groups
        from .h5source import H5Source

        h5 = H5Source(path)
        try:
            info = self._info(h5)
            model = build_layers_model(info, source=str(path), options=options)
            model.weight_groups = h5_weight_groups(h5, info.model_config, keras3=info.keras3)
            check_weight_shapes(model.model_config, model.weight_groups, source=str(path))
        except BaseException:
            h5.close()
            raise
        return model


class KerasV3Frontend(_KerasFileFrontend):
    """Keras 3 ``.keras`` archives (config.json + metadata.json + model.weights.h5)."""

    name = "keras_keras"
    description = "Keras 3 .keras archive: layers model with zipfile and h5py alone, or graph model"

    def detect(self, source: Any) -> bool:
        return is_keras_archive(source)

    def read_info(self, path: Path) -> KerasFileInfo:
        from .keras_archive import read_keras_archive

        return self._info(read_keras_archive(path, with_weights=False), path)

    def check_before_keras(self, path: Path, options: ConvertOptions) -> KerasFileInfo:
        """Also opens model.weights.h5 (which checks it for links out of the file) before Keras reads it."""
        from .keras_archive import read_keras_archive

        archive = read_keras_archive(path, max_members=limits_of(options).max_archive_members)
        if archive.weights is not None:
            archive.weights.close()
        info = self._info(archive, path)
        check_model_graph(info.model_config, source=str(path))
        return info

    @staticmethod
    def _info(archive: Any, path: Path) -> KerasFileInfo:
        from .lowering.lookup_assets import with_asset_vocabularies

        version = str(archive.metadata.get("keras_version") or "3")  # tf_keras splits its assets otherwise
        config = with_asset_vocabularies(archive.config, archive.assets, keras3=keras_major(version) >= 3)
        return KerasFileInfo(model_config=_checked_config(config, str(path)), keras_version=version)

    def lower_graph(self, path: Path, info: KerasFileInfo, options: ConvertOptions,
                    walk_past_gaps: bool = False) -> Graph:
        from .keras_archive import read_keras_archive
        from .lowering import lower_model, v3_layer_weights

        archive = read_keras_archive(path, max_members=limits_of(options).max_archive_members)
        try:
            config = info.model_config  # with the adapted lookups' assets and (if allowed) vocabulary files
            return lower_model(config, v3_layer_weights(archive.weights, config), keras3=info.keras3,
                               source=str(path), walk_past_gaps=walk_past_gaps,  # tf_keras writes .keras too
                               target_backends=options.target_backends)
        except BaseException:
            if archive.weights is not None:
                archive.weights.close()
            raise

    def load_layers_model(self, path: Path, options: ConvertOptions) -> LayersModel:
        from .keras_archive import read_keras_archive
        from .v3_weights import v3_weight_groups

        archive = read_keras_archive(path, max_members=limits_of(options).max_archive_members)
        try:
            info = self._info(archive, path)
            model = build_layers_model(info, source=str(path), options=options)
            if archive.weights is not None and not info.keras3:  # tf_keras's archive: keys a shared layer shifted
                from .lowering.model_plan import refuse_renumbered

                refuse_renumbered(archive.config, str(path))
            if archive.weights is not None:
                model.weight_groups = v3_weight_groups(archive.weights, archive.config)
            check_weight_shapes(model.model_config, model.weight_groups, source=str(path))
        except BaseException:
            if archive.weights is not None:
                archive.weights.close()
            raise
        return model


#: How the lowering reads each kind of source, for :func:`lowering_refusal` (a file: h5py; a tf_keras SavedModel
#: folder: its own protobuf decoding of keras_metadata.pb and the checkpoint).
H5PY_READER = "h5py, no TensorFlow"
SAVED_MODEL_READER = "keras_metadata.pb and the variables checkpoint decoded without TensorFlow"


def lowering_refusal(path: Path, gaps: list[str], *, keras3: bool, reader: str = H5PY_READER,
                     what: str = "file") -> UsageError:
    """The one-line refusal of a graph model the lowering does not cover: every gap, and the way out (``reader``:
    how the lowering read the source; ``what``: the source, a file or a folder)."""
    missing = _missing_tracer_packages(keras3=keras3)
    hint = (f"convert it with --loader=tensorflow (Keras loads the {what} and TensorFlow traces it)" if not missing
            else f"these layers need the TensorFlow tracer: pip install {' '.join(missing)}, then use "
                 "--loader=tensorflow")
    if gaps and all("bfloat16" in gap for gap in gaps):  # the tracer refuses its bfloat16 constants too
        hint = "TF.js computes no bfloat16 (--loader=tensorflow refuses it too): save the model in float32 or float16"
    from .lowering.registry import named_gaps

    return UsageError(f"{path}: the graph-model lowering ({reader}) does not cover "
                      f"{len(gaps)} layer{'' if len(gaps) == 1 else 's'}: {named_gaps(gaps)}", hint=hint)


def _missing_tracer_packages(*, keras3: bool) -> list[str]:
    """The packages the TensorFlow path needs that cannot be imported (looked up, not imported)."""
    import importlib.util

    missing = []
    for name in ("tensorflow", "keras" if keras3 else "tf_keras"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ValueError, ImportError):  # in sys.modules as None: imports of it fail
            found = False
        if not found:
            missing.append(name)
    return missing


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:  # RecursionError: nested too deeply
        if not what:
            return None
        raise InputError(f"{what} is not valid JSON: {str(err)[:200]}") from None


def _not_a_model(path: Path, root: Any) -> InputError:
    """The error for an HDF5 file without a model config: weights-only, or not Keras at all."""
    if "layer_names" in root.attrs or "layers" in root or "_layer_checkpoint_dependencies" in root:
        return InputError(
            f"{path} holds weights only (model.save_weights), not the model's architecture, "
            "so there is nothing to tell TF.js which layers to build",
            hint="load these weights into the model in Python and save the whole model with "
                 "model.save('model.keras') or model.save('model.h5'), then convert that file")
    return InputError(f"{path} is an HDF5 file but not a Keras model (it has no model_config attribute)",
                      hint="save the model with model.save('model.h5') or model.save('model.keras')")
