"""Data-only package: the pinned npm project (package.json, package-lock.json) and runner.mjs.

Being a package makes setuptools ship these files (``package-data`` globs do not descend into
plain sub-folders); nothing here is meant to be imported.
"""
