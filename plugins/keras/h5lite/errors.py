"""The one signal of the lite HDF5 reader: "this file is not one I fully understand"."""
from __future__ import annotations


class Unsupported(Exception):
    """Raised for anything outside the subset the lite reader knows (or a structure that does not add up).

    It is never shown to users: the caller opens the whole file with h5py instead, which reads the file
    (or refuses it) with its own checks. Corrupt and hostile files land here too, so the lite reader
    needs no error messages of its own.
    """
