"""TensorFlow frontends: SavedModel, frozen GraphDef and TF Hub module folders (needs TensorFlow).

Not implemented yet; the plugin is registered so that the entry point and `tfjsconv plugins` work.
"""
