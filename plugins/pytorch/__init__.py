"""PyTorch frontend: modules and ``torch.export`` programs, through ONNX, to TF.js graph models.

Not implemented yet; the plugin is registered so that the entry point and `tfjsconv plugins` work.
"""
