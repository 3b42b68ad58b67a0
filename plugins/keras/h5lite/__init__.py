"""A small, read-only HDF5 reader for the files h5py writes for Keras (no h5py import, metadata only).

It understands the plainest subset (superblock 0, version 1 object headers, symbol-table groups,
contiguous numeric datasets, string and numeric attributes) and raises :class:`Unsupported` for
anything else, so the caller opens the file with h5py instead: it never answers differently from
h5py, it only answers faster. Format: the HDF5 File Format Specification, version 3.0.
"""
from __future__ import annotations

from .errors import Unsupported
from .tree import LiteDataset, LiteGroup, LiteObject, read_tree

__all__ = ["LiteDataset", "LiteGroup", "LiteObject", "Unsupported", "read_tree"]
