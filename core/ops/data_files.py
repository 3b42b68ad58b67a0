"""The tables shipped in ``tfjsconv/ops/data``, read straight from the file system when installed as files.

``importlib.resources`` (which pulls in zipfile on first use) is only needed for a zipped install.
"""
from __future__ import annotations

import os


def read_data_text(name: str) -> str:
    """The text of ``tfjsconv/ops/data/<name>``."""
    try:
        with open(os.path.join(os.path.dirname(__file__), "data", name), encoding="utf-8") as file:
            return file.read()
    except OSError:  # not plain files (a zipped install): ask the package's loader
        from importlib import resources

        return resources.files(__package__).joinpath("data").joinpath(name).read_text(encoding="utf-8")
