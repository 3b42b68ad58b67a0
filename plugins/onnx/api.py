"""The public Python API of the ONNX plugin: what another plugin (PyTorch) or a user may call.

Everything else in ``tfjsconv.plugins.onnx`` is internal and may change. The PyTorch plugin exports
a module to an in-memory ``onnx.ModelProto`` and hands it over::

    from tfjsconv.plugins.onnx.api import check_versions, translate_model
    check_versions(model_proto, Path("<torch.onnx.export>"))      # IR version and opsets we support
    graph = translate_model(model_proto, options, base_dir=Path.cwd())  # NHWC inside

``onnx_intermediates`` and ``layout_from_model_dir`` serve ``verify --trace``; ``DEFAULT_DOMAINS``
spells the standard operator set's domains.
"""
from __future__ import annotations

from .frontend import translate_model
from .mapping import DEFAULT_DOMAINS
from .reading import check_versions
from .reference import layout_from_model_dir, onnx_intermediates

__all__ = ["DEFAULT_DOMAINS", "check_versions", "layout_from_model_dir", "onnx_intermediates", "translate_model"]
