"""Generated op data. A package only so setuptools ships ``tfjs_ops.json`` (package-data ``*.json``
matches files in a package's own folder, not in plain subfolders)."""
