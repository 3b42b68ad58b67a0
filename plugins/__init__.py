"""tfjsconv's built-in plugins. Each is loaded through the ``tfjsconv`` entry-point group, like a third party's."""
