"""The ``keras`` (``.h5``) and ``keras_keras`` (``.keras``) frontends: files -> TF.js layers models.

Both read the files with h5py alone (never TensorFlow or Keras), refuse code and TF.js gaps with
one message (:mod:`.checks`), translate the config (:mod:`.translate`) and hand the weights to the
writer as lazy arrays, so the weights stream from the file into the shards one at a time.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError, UsageError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.model import LayersModel
from tfjsconv.options import ConvertOptions

from .checks import check_model_config
from .configs import keras_major
from .translate import to_tfjs_model_config

H5_SUFFIXES = (".h5", ".hdf5")


def _input_path(source: Any, frontend: str) -> Path:
    path = as_path(source)
    if path is None:
        raise UsageError(f"the {frontend} frontend reads files; got a {type(source).__name__}",
                         hint="pass the path of a saved model")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    return path


def build_layers_model(model_config: Any, *, source: str, keras_version: str, backend: str,
                       options: ConvertOptions, training_config: dict[str, Any] | None = None) -> LayersModel:
    """Check and translate a model config (weights are attached by the caller once this passed)."""
    if not isinstance(model_config, dict) or not isinstance(model_config.get("class_name"), str):
        raise InputError(f"{source}: the model config is not a Keras model config")
    keras3 = keras_major(keras_version) >= 3
    check_model_config(model_config, source=source, keras3=keras3, allow_unsafe=options.allow_unsafe_deserialization)
    return LayersModel(
        model_config=to_tfjs_model_config(model_config, keras3=keras3),
        weight_groups=[],
        keras_version=keras_version,
        backend=backend,
        training_config=training_config,
    )


class _KerasFileFrontend(Frontend):
    """What both Keras file frontends share: the output format and Keras as the reference."""

    output_formats = ("tfjs_layers_model",)

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray],
                  options: ConvertOptions) -> dict[str, np.ndarray]:
        """Keras's own outputs; the file must pass the conversion's checks first (no code reaches Keras)."""
        from .reference import keras_reference

        model = self.load(source, options)
        return keras_reference(_input_path(source, self.name), inputs, keras3=keras_major(model.keras_version) >= 3)


class KerasH5Frontend(_KerasFileFrontend):
    """Whole-model HDF5 files from Keras 2 (tf_keras) or Keras 3 (``model.save("m.h5")``)."""

    name = "keras"
    description = "Keras .h5 model (Keras 2 or 3), read with h5py alone"

    def detect(self, source: Any) -> bool:
        from .h5source import has_hdf5_magic

        path = as_path(source)
        return path is not None and path.is_file() and (path.suffix.lower() in H5_SUFFIXES or has_hdf5_magic(path))

    def load(self, source: Any, options: ConvertOptions) -> LayersModel:
        from .h5_weights import h5_weight_groups
        from .h5source import H5Source, attr_text

        path = _input_path(source, self.name)
        h5 = H5Source(path)
        try:
            root = h5.file
            config_text = attr_text(root, "model_config")
            if config_text is None:
                raise _not_a_model(path, root)
            model_config = _parse_json(config_text, f"{path}: model_config")
            weights_group = root.get("model_weights", root)
            keras_version = attr_text(root, "keras_version") or attr_text(weights_group, "keras_version") or "2"
            backend = attr_text(root, "backend") or attr_text(weights_group, "backend") or "tensorflow"
            training_text = attr_text(root, "training_config")
            training_config = _parse_json(training_text, "") if training_text else None
            model = build_layers_model(model_config, source=str(path), keras_version=keras_version,
                                       backend=backend, options=options,
                                       training_config=training_config if isinstance(training_config, dict) else None)
            model.weight_groups = h5_weight_groups(h5, model_config, keras3=keras_major(keras_version) >= 3)
        except BaseException:
            h5.close()
            raise
        return model


class KerasV3Frontend(_KerasFileFrontend):
    """Keras 3 ``.keras`` archives (config.json + metadata.json + model.weights.h5)."""

    name = "keras_keras"
    description = "Keras 3 .keras archive, read with zipfile and h5py alone"

    def detect(self, source: Any) -> bool:
        path = as_path(source)
        return path is not None and path.is_file() and path.suffix.lower() == ".keras"

    def load(self, source: Any, options: ConvertOptions) -> LayersModel:
        from .keras_archive import read_keras_archive
        from .v3_weights import v3_weight_groups

        path = _input_path(source, self.name)
        archive = read_keras_archive(path)
        try:
            keras_version = str(archive.metadata.get("keras_version") or "3")
            model = build_layers_model(archive.config, source=str(path), keras_version=keras_version,
                                       backend="tensorflow", options=options)
            if archive.weights is not None:
                model.weight_groups = v3_weight_groups(archive.weights, archive.config)
        except BaseException:
            if archive.weights is not None:
                archive.weights.close()
            raise
        return model


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        if not what:
            return None
        raise InputError(f"{what} is not valid JSON: {err}") from None


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
