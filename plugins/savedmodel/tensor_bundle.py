"""Read a TensorFlow V2 checkpoint (a TensorBundle: ``<prefix>.index`` + ``<prefix>.data-?????-of-?????``).

The index is an SSTable (:mod:`.sstable`): the empty key holds a ``BundleHeaderProto`` (shard count,
endianness), every other key a variable's ``BundleEntryProto`` (dtype, shape, shard, offset, size,
CRC-32C). The index is read whole when the reader opens (it is small); a tensor's bytes are read
only by :meth:`BundleReader.get_tensor`, straight into the array returned (no second copy), and
checked against the entry's CRC before they are handed out.

String tensors are stored as the varint lengths of the elements, a masked CRC of those lengths,
then the bytes; the entry's CRC covers the lengths (as 4-byte integers), that masked CRC and the
bytes. Partitioned variables (saved as slices) are assembled; big-endian bundles are refused.
No TensorFlow is imported.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfjsconv.errors import InputError

from . import crc32c, schema
from .sstable import TableError, read_table

#: DataType number -> numpy dtype name, for the types a bundle stores as fixed-size elements.
NUMPY_DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 8: "complex64",
                9: "int64", 10: "bool", 17: "uint16", 18: "complex128", 19: "float16", 22: "uint32",
                23: "uint64"}
#: Types numpy lacks, from ml_dtypes (a light package TensorFlow and JAX use for them).
ML_DTYPES = {14: "bfloat16", 24: "float8_e5m2", 25: "float8_e4m3fn"}
DT_STRING = 7
HINT = "variables/ is corrupt or truncated; copy the whole SavedModel folder (or checkpoint) again"


def numpy_dtype(number: int) -> np.dtype | None:
    """The numpy dtype of a DataType number; None for types a bundle reader here cannot return."""
    if number in NUMPY_DTYPES:
        return np.dtype(NUMPY_DTYPES[number])
    if number in ML_DTYPES:
        try:
            import ml_dtypes
        except ImportError:
            return None
        return np.dtype(getattr(ml_dtypes, ML_DTYPES[number]))
    if number == DT_STRING:
        return np.dtype(object)
    return None


def corrupt(prefix: str | Path, detail: str) -> InputError:
    return InputError(f"corrupt checkpoint {prefix}: {detail}", hint=HINT)


class BundleReader:
    """The variables of one checkpoint, by name; ``get_tensor`` reads (and checks) one of them."""

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = str(prefix)
        index = Path(self.prefix + ".index")
        try:
            data = index.read_bytes()
        except OSError as err:
            raise InputError(f"cannot read the checkpoint index {index}: {err.strerror or err}", hint=HINT) from None
        self.header = schema.BundleHeaderProto()
        self.entries: dict[str, object] = {}
        self.slice_entries: dict[bytes, object] = {}  # "\x00<name>\x00\x01<extents>": a partitioned variable's parts
        try:
            for key, value in read_table(data):
                if key == b"":
                    self.header.ParseFromString(value)
                    continue
                entry = schema.BundleEntryProto()
                entry.ParseFromString(value)
                if key.startswith(b"\x00"):
                    self.slice_entries[key] = entry
                else:
                    self.entries[key.decode("utf-8", "replace")] = entry
        except TableError as err:
            raise corrupt(index, str(err)) from None
        except Exception as err:  # google.protobuf.message.DecodeError: a value that is no BundleEntryProto
            raise corrupt(index, f"an entry cannot be parsed ({err})") from None
        if self.header.endianness != 0:
            raise InputError(f"checkpoint {self.prefix} is big-endian, which is not supported")
        if self.header.num_shards < 1:
            raise corrupt(index, "its header declares no data shards")

    def keys(self) -> list[str]:
        return sorted(self.entries)

    def has_tensor(self, key: str) -> bool:
        return key in self.entries

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(d.size) for d in self._entry(key).shape.dim)

    def dtype(self, key: str) -> np.dtype | None:
        """The variable's numpy dtype (object for strings); None for types not read here."""
        return numpy_dtype(self._entry(key).dtype)

    def dtype_name(self, key: str) -> str:
        number = self._entry(key).dtype
        return schema.data_type_name(number) or f"DataType {number}"

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {key: list(self.shape(key)) for key in self.entries}

    def _entry(self, key: str):
        entry = self.entries.get(key)
        if entry is None:
            raise InputError(f"checkpoint {self.prefix} has no variable {key!r}")
        return entry

    def shard_path(self, shard: int) -> str:
        return f"{self.prefix}.data-{shard:05d}-of-{self.header.num_shards:05d}"

    def get_tensor(self, key: str) -> np.ndarray:
        """The variable ``key`` as a C-contiguous array, its bytes checked against the index's CRC."""
        entry = self._entry(key)
        if entry.slices:
            return self._read_partitioned(key, entry)
        return self._read_entry(key, entry)

    def _read_entry(self, key: str, entry) -> np.ndarray:
        dtype = numpy_dtype(entry.dtype)
        if dtype is None:
            number = entry.dtype
            raise InputError(f"checkpoint variable {key!r} holds {schema.data_type_name(number) or number}, "
                             "which cannot be read")
        shape = tuple(int(d.size) for d in entry.shape.dim)
        if any(d < 0 for d in shape):
            raise corrupt(self.prefix, f"variable {key!r} has a negative dimension {shape}")
        count = 1
        for size in shape:  # Python ints: a hostile shape cannot wrap around
            count *= size
        self._check_extent(key, entry)  # before allocating anything
        if entry.dtype == DT_STRING:
            return self._read_strings(key, entry, shape, count)
        if entry.size != count * dtype.itemsize:
            raise corrupt(self.prefix, f"variable {key!r} stores {entry.size} bytes, its shape {list(shape)} of "
                                       f"{dtype.name} needs {count * dtype.itemsize}")
        array = np.empty(shape, dtype=dtype)
        self._read_into(key, entry, array.reshape(-1).view(np.uint8))
        if crc32c.value(array.reshape(-1).view(np.uint8)) != crc32c.unmask(entry.crc32c):
            raise corrupt(self.prefix, f"variable {key!r} fails its CRC-32C check (its bytes were changed)")
        return array

    def _read_partitioned(self, key: str, entry) -> np.ndarray:
        """A variable saved as slices, assembled (each slice read and checked in turn).

        A slice is stored under ``"\\x00" + name (0x00/0xFF escaped) + "\\x00\\x01" + rank + extents``, the
        numbers in an order-preserving code; the keys' byte order is therefore the extents' order,
        which pairs each extent listed in the variable's entry with its key without decoding it.
        """
        shape = self.shape(key)
        escapes = {0: b"\x00\xff", 0xFF: b"\xff\x00"}
        name = b"".join(escapes.get(c, bytes([c])) for c in key.encode("utf-8"))
        prefix = b"\x00" + name + b"\x00\x01"
        keys = sorted(k for k in self.slice_entries if k.startswith(prefix))
        extents = []
        for part in entry.slices:
            if len(part.extent) != len(shape):
                raise corrupt(self.prefix, f"a slice of variable {key!r} has rank {len(part.extent)}, not {len(shape)}")
            extents.append(tuple((e.start, e.length if e.HasField("length") else -1) for e in part.extent))
        extents.sort()
        if len(keys) != len(extents):
            raise corrupt(self.prefix, f"variable {key!r} lists {len(extents)} slices, the index holds {len(keys)}")
        dtype = self.dtype(key)
        if dtype is None:
            raise InputError(f"checkpoint variable {key!r} holds {self.dtype_name(key)}, which cannot be read")
        out = np.empty(shape, dtype=dtype)
        covered = 0
        for number, (extent, slice_key) in enumerate(zip(extents, keys)):
            region = tuple(slice(None) if length < 0 else slice(start, start + length) for start, length in extent)
            if any(start < 0 or (length >= 0 and start + length > size)
                   for (start, length), size in zip(extent, shape)):
                raise corrupt(self.prefix, f"slice {number} of variable {key!r} lies outside its shape {list(shape)}")
            part = self._read_entry(f"{key} (slice {number})", self.slice_entries[slice_key])
            if part.shape != out[region].shape or self.slice_entries[slice_key].dtype != entry.dtype:
                raise corrupt(self.prefix, f"slice {number} of variable {key!r} holds {list(part.shape)}, "
                                           f"its extent needs {list(out[region].shape)}")
            out[region] = part
            covered += part.size
        if covered != out.size:
            raise corrupt(self.prefix, f"the slices of variable {key!r} cover {covered} of its {out.size} elements")
        return out

    def _check_extent(self, key: str, entry) -> None:
        """The entry's bytes lie inside an existing shard (checked before any buffer is allocated)."""
        if not 0 <= entry.shard_id < self.header.num_shards:
            raise corrupt(self.prefix, f"variable {key!r} names shard {entry.shard_id} of {self.header.num_shards}")
        path = self.shard_path(entry.shard_id)
        try:
            available = os.stat(path).st_size
        except OSError as err:
            raise InputError(f"cannot read variable {key!r} from {path}: {err.strerror or err}", hint=HINT) from None
        if entry.offset < 0 or entry.size < 0 or entry.offset + entry.size > available:
            raise corrupt(self.prefix, f"variable {key!r} lies at bytes {entry.offset}..{entry.offset + entry.size}"
                                       f" of {os.path.basename(path)}, which holds {available} bytes")

    def _read_into(self, key: str, entry, buffer: np.ndarray | bytearray) -> None:
        """Fill ``buffer`` with the entry's bytes from its shard; a short or missing shard is an InputError."""
        path = self.shard_path(entry.shard_id)
        try:
            with open(path, "rb") as file:
                file.seek(entry.offset)
                view = memoryview(buffer)
                done = 0
                while done < entry.size:
                    read = file.readinto(view[done:])
                    if not read:
                        raise corrupt(self.prefix, f"{os.path.basename(path)} ends inside variable {key!r}")
                    done += read
        except OSError as err:
            raise InputError(f"cannot read variable {key!r} from {path}: {err.strerror or err}", hint=HINT) from None

    def _read_strings(self, key: str, entry, shape: tuple[int, ...], count: int) -> np.ndarray:
        raw = bytearray(entry.size)
        self._read_into(key, entry, raw)
        pos, lengths, checksum = 0, [], 0
        for _ in range(count):
            length = shift = 0
            while True:
                if pos >= len(raw) or shift > 63:
                    raise corrupt(self.prefix, f"string variable {key!r} has truncated lengths")
                byte = raw[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
            lengths.append(length)
            checksum = crc32c.extend(checksum, length.to_bytes(4 if length <= 0xFFFFFFFF else 8, "little"))
        stored_lengths_crc = raw[pos:pos + 4]
        if len(stored_lengths_crc) < 4 or int.from_bytes(stored_lengths_crc, "little") != crc32c.mask(checksum):
            raise corrupt(self.prefix, f"string variable {key!r} fails its lengths' CRC-32C check")
        checksum = crc32c.extend(checksum, stored_lengths_crc)
        pos += 4
        if pos + sum(lengths) != len(raw):
            raise corrupt(self.prefix, f"string variable {key!r} stores {len(raw)} bytes, its lengths need "
                                       f"{pos + sum(lengths)}")
        checksum = crc32c.extend(checksum, memoryview(raw)[pos:])
        if checksum != crc32c.unmask(entry.crc32c):
            raise corrupt(self.prefix, f"variable {key!r} fails its CRC-32C check (its bytes were changed)")
        values = np.empty(count, dtype=object)
        for i, length in enumerate(lengths):
            values[i] = bytes(raw[pos:pos + length])
            pos += length
        return values.reshape(shape)
