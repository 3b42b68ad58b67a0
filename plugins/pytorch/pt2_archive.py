"""What ``torch.export.load`` would unpickle in a ``.pt2`` archive, found from the zip alone.

``torch.export.load`` (torch 2.13, ``torch/export/pt2_archive/_package.py``) runs pickles from:
the sample inputs (``data/sample_inputs/<model>.pt``: ``weights_only=True`` first, then a silent
fallback to full unpickling), weights and tensor constants whose config entry says
``use_pickle`` (``torch.load(weights_only=False)``), ``custom_obj_*`` constants (TorchScript
unpickler) and ``opaque_obj_*`` ones (``pickle.loads``), legacy ``data/weights/<model>.pt`` and
``data/constants/<model>.pt`` files and the pre-2.8 zip layout; ``data/aotinductor/`` holds
compiled shared libraries it loads. Only an archive without any of these is loaded without
``--allow_unsafe_deserialization``; nothing in the archive is loaded to decide that.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from tfjsconv.errors import InputError, UnsafeInputError
from tfjsconv.limits import Limits, check_limit

MODEL = "model"
#: Members a pickle-free archive of one program may hold, relative to the archive's root folder.
FIXED_MEMBERS = frozenset({"archive_format", "archive_version", "byteorder", ".data/version",
                           ".data/serialization_id", f"models/{MODEL}.json", f"data/sample_inputs/{MODEL}.pt",
                           f"data/weights/{MODEL}_weights_config.json",
                           f"data/constants/{MODEL}_constants_config.json"})
#: Config files are small JSON; more than this is not a torch.export.save output.
MAX_CONFIG_BYTES = 64 * 1024 * 1024
UNSAFE_HINT = ("convert the module in memory instead (tfjsconv.convert(module, 'out/', example_inputs=(...))), or "
               "save it without sample inputs (ep.example_inputs = None before torch.export.save), or export "
               "ONNX; pass --allow_unsafe_deserialization only for a file you trust")


def read_checked(path: Path, limits: Limits) -> tuple[bytes, list[str]]:
    """(the archive's bytes, what in it would be unpickled or run); the bytes are read once so that
    what is checked is what is loaded."""
    data = path.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return data, _unsafe_members(archive, limits)
    except zipfile.BadZipFile as err:
        raise InputError(f"{path} is not a .pt2 archive (not a zip file: {err})",
                         hint="write it with torch.export.save(torch.export.export(module, args), path)") from None


def _unsafe_members(archive: zipfile.ZipFile, limits: Limits) -> list[str]:
    infos = archive.infolist()
    check_limit("max_archive_members", len(infos), limits, "the .pt2 archive has too many members")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        return ["duplicate member names (a reader may pick either copy)"]
    root = names[0].split("/", 1)[0] if names else ""
    if not root or any(not name.startswith(root + "/") for name in names):
        return ["members outside one root folder (not the torch.export.save layout)"]
    members = {info.filename[len(root) + 1:]: info for info in infos}
    unsafe = []
    sample = members.get(f"data/sample_inputs/{MODEL}.pt")
    if sample is not None and sample.file_size:
        unsafe.append(f"data/sample_inputs/{MODEL}.pt (pickled example inputs)")
    allowed = set(FIXED_MEMBERS)
    for kind, prefix in (("weights", "data/weights/"), ("constants", "data/constants/")):
        config = members.get(f"{prefix}{MODEL}_{kind}_config.json")
        if config is None:
            continue
        for key, entry in _config_entries(archive, config):
            path_name = entry.get("path_name") if isinstance(entry, dict) else None
            if not isinstance(path_name, str) or "/" in path_name:
                unsafe.append(f"{prefix}: entry {key!r} has no plain file name")
            elif entry.get("use_pickle") is not False or (kind == "constants" and not path_name.startswith("tensor_")):
                unsafe.append(f"{prefix}{path_name} (pickled {kind[:-1]} {key})")
            else:
                allowed.add(prefix + path_name)
    unsafe += [f"{name} (not part of a pickle-free archive)" for name in sorted(set(members) - allowed)
               if not name.startswith("extra/")]
    return unsafe


def _config_entries(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[tuple[str, object]]:
    if info.file_size > MAX_CONFIG_BYTES:
        raise InputError(f"the .pt2 member {info.filename} declares {info.file_size:,} bytes; configs are small")
    try:
        config = json.loads(archive.read(info))["config"]
        return list(config.items())
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise InputError(f"the .pt2 member {info.filename} is not a valid payload config "
                         f"({type(err).__name__})") from None


def refuse_unsafe(path: Path, unsafe: list[str]) -> None:
    """The one-line refusal naming what would be unpickled."""
    shown = "; ".join(unsafe[:4]) + (f"; … ({len(unsafe) - 4} more)" if len(unsafe) > 4 else "")
    raise UnsafeInputError(f"{path} holds pickles that torch.export.load would run, which can execute arbitrary code: "
                           f"{shown}; tfjsconv refuses it without --allow_unsafe_deserialization", hint=UNSAFE_HINT)
