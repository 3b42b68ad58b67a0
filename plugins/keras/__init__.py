"""Keras frontend: ``.h5`` / ``.keras`` to TF.js layers models (h5py only) and to graph models.

Not implemented yet; the plugin is registered so that the entry point and `tfjsconv plugins` work.
"""
