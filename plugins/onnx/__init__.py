"""ONNX frontend: ONNX models to TF.js graph models, NHWC inside, with no TensorFlow.

Not implemented yet; the plugin is registered so that the entry point and `tfjsconv plugins` work.
"""
