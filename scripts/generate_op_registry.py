#!/usr/bin/env python3
"""Regenerate ``core/ops/data/tfjs_ops.json`` from the ``@tensorflow/tfjs-converter`` npm package.

Why generated: the set of ops TF.js can execute is whatever its converter's op lists say, so we
read those lists (``dist/operations/op_list/*.js``) with node instead of keeping a hand-written copy
that drifts. ``--check`` lets CI prove the committed file matches the pinned package.

The op lists are ES modules; node imports each one and prints its ``json`` export. We also read
``dist/operations/operation_mapper.js`` to learn which lists TF.js actually loads: in 4.22 the
``ragged`` and ``tfdf`` lists exist but are not wired into the ``OperationMapper``, so their ops
fail at runtime with "Unknown op" (each op gets ``"executable": false``).

Usage::

    python scripts/generate_op_registry.py --package-dir node_modules/@tensorflow/tfjs-converter
    python scripts/generate_op_registry.py --package-dir ... --check
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE_NAME = "@tensorflow/tfjs-converter"
SUPPORTED_VERSION_PREFIX = "4.22."
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "core" / "ops" / "data" / "tfjs_ops.json"
OP_LIST_DIR = Path("dist") / "operations" / "op_list"
MAPPER_FILE = Path("dist") / "operations" / "operation_mapper.js"

# Imports each op-list module and prints {module stem: json export}. A data: URL is tried first
# because the package has no "type": "module", and node < 20.19 refuses to load ESM from a .js
# file there; the op lists import nothing, so a data: URL loses nothing. Falls back to the file.
_NODE_SNIPPET = r"""
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

const out = {};
for (const file of process.argv.slice(2)) {
  const source = readFileSync(file, 'utf8');
  let mod;
  try {
    mod = await import('data:text/javascript;base64,' + Buffer.from(source).toString('base64'));
  } catch (err) {
    mod = await import(pathToFileURL(file).href);
  }
  if (!Array.isArray(mod.json)) {
    throw new Error(`${file} has no array export named "json"`);
  }
  out[basename(file, '.js')] = mod.json;
}
process.stdout.write(JSON.stringify(out));
"""


class GenerateError(Exception):
    """The package or node is not what the generator needs; the message says what to do."""


def read_package_json(package_dir: Path) -> dict[str, Any]:
    path = package_dir / "package.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenerateError(f"{path} not found: --package-dir must be the unpacked {PACKAGE_NAME} folder") from None
    except json.JSONDecodeError as err:
        raise GenerateError(f"{path} is not valid JSON: {err}") from None
    if meta.get("name") != PACKAGE_NAME:
        raise GenerateError(f"{package_dir} holds {meta.get('name')!r}, not {PACKAGE_NAME}")
    return meta


def _op_list_files(package_dir: Path) -> list[Path]:
    files = sorted(p for p in (package_dir / OP_LIST_DIR).glob("*.js") if not p.name.endswith(".d.ts"))
    if not files:
        raise GenerateError(f"no op lists in {package_dir / OP_LIST_DIR}; is this a built {PACKAGE_NAME}?")
    return files


def load_op_lists(files: list[Path], node: str = "node") -> dict[str, list[dict[str, Any]]]:
    """Run node once over every op-list module; return {module stem: entries}."""
    node_path = shutil.which(node)
    if node_path is None:
        raise GenerateError(f"{node!r} not found on PATH; install Node.js (>= 18) to read the TF.js op lists")
    with tempfile.TemporaryDirectory(prefix="tfjsconv-oplist-") as tmp:
        script = Path(tmp) / "dump_op_lists.mjs"
        script.write_text(_NODE_SNIPPET, encoding="utf-8")
        proc = subprocess.run([node_path, str(script), *map(str, files)],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GenerateError(f"node failed to import the op lists (exit {proc.returncode}):\n{proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        raise GenerateError(f"node printed something that is not JSON: {err}") from None


def mapped_modules(package_dir: Path) -> set[str]:
    """Stems of the op lists ``OperationMapper`` loads; ops elsewhere are unknown to TF.js at runtime."""
    path = package_dir / MAPPER_FILE
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenerateError(f"{path} not found; cannot tell which op lists TF.js loads") from None
    aliases = dict(re.findall(r"import\s+\*\s+as\s+(\w+)\s+from\s+['\"]\./op_list/(\w+)(?:\.js)?['\"]", source))
    match = re.search(r"\bconst\s+ops\s*=\s*\[([^\]]*)\]", source)
    if not aliases or match is None:
        raise GenerateError(f"{path} no longer has the `import * as x from './op_list/x'` lines and the "
                            "`const ops = [...]` array this script reads; update mapped_modules()")
    used = re.findall(r"\w+", match.group(1))
    unknown = [name for name in used if name not in aliases]
    if unknown:
        raise GenerateError(f"{path}: ops array names {unknown}, which are not op-list imports")
    return {aliases[name] for name in used}


def _op_entry(raw: dict[str, Any], module: str, executable: bool) -> dict[str, Any]:
    """One op in a fixed key order; inputs/attrs keep their source order (it is positional)."""
    entry: dict[str, Any] = {
        "name": raw["tfOpName"],
        # the tfdf list has no categories; its module name stands in so every op has one
        "category": raw.get("category") or module,
        "module": module,
        "executable": executable,
        "inputs": raw.get("inputs", []),
        "attrs": raw.get("attrs", []),
    }
    extra = sorted(set(raw) - {"tfOpName", "category", "inputs", "attrs"})
    for key in extra:  # e.g. "outputs"; keep anything a future version adds
        entry[key] = raw[key]
    return entry


def generate(package_dir: str | Path, *, allow_version_mismatch: bool = False, node: str = "node") -> dict[str, Any]:
    """Build the registry document (header + ops sorted by name) from an unpacked tfjs-converter package."""
    package_dir = Path(package_dir)
    meta = read_package_json(package_dir)
    version = str(meta.get("version", ""))
    if not version.startswith(SUPPORTED_VERSION_PREFIX) and not allow_version_mismatch:
        raise GenerateError(
            f"{package_dir} is {PACKAGE_NAME} {version}, but tfjsconv targets {SUPPORTED_VERSION_PREFIX}x; "
            "pass --allow-version-mismatch to generate from it anyway")
    files = _op_list_files(package_dir)
    lists = load_op_lists(files, node=node)
    mapped = mapped_modules(package_dir)
    missing = sorted(mapped - set(lists))
    if missing:
        raise GenerateError(f"OperationMapper loads op lists {missing} that are not in {package_dir / OP_LIST_DIR}")

    ops: dict[str, dict[str, Any]] = {}
    for module in sorted(lists):
        for raw in lists[module]:
            name = raw.get("tfOpName")
            if not name:
                raise GenerateError(f"an entry in {module}.js has no tfOpName: {raw!r}")
            if name in ops:
                raise GenerateError(f"op {name} is defined twice ({ops[name]['module']}.js and {module}.js)")
            ops[name] = _op_entry(raw, module, module in mapped)

    entries = [ops[name] for name in sorted(ops)]
    categories = sorted({entry["category"] for entry in entries})
    return {
        "header": {
            "package": PACKAGE_NAME,
            "version": version,
            "generator": "scripts/generate_op_registry.py",
            "note": "generated file, do not edit; regenerate with scripts/generate_op_registry.py",
            "op_count": len(entries),
            "executable_op_count": sum(1 for entry in entries if entry["executable"]),
            "categories": categories,
            "unloaded_modules": sorted(set(lists) - mapped),
        },
        "ops": entries,
    }


def dumps(document: dict[str, Any]) -> str:
    """The exact committed text: 2-space indent, trailing newline, non-ASCII kept."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def diff_summary(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human summary of how two registry documents differ (ops added/removed/changed, header)."""
    lines: list[str] = []
    if old.get("header") != new.get("header"):
        for key in sorted(set(old.get("header", {})) | set(new.get("header", {}))):
            a, b = old.get("header", {}).get(key), new.get("header", {}).get(key)
            if a != b:
                lines.append(f"header.{key}: {a!r} -> {b!r}")
    old_ops = {op["name"]: op for op in old.get("ops", [])}
    new_ops = {op["name"]: op for op in new.get("ops", [])}
    added = sorted(set(new_ops) - set(old_ops))
    removed = sorted(set(old_ops) - set(new_ops))
    changed = sorted(n for n in set(old_ops) & set(new_ops) if old_ops[n] != new_ops[n])
    if added:
        lines.append(f"added ({len(added)}): {', '.join(added)}")
    if removed:
        lines.append(f"removed ({len(removed)}): {', '.join(removed)}")
    if changed:
        lines.append(f"changed ({len(changed)}): {', '.join(changed)}")
    if not lines:
        lines.append("same content, different formatting or op order")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", required=True, type=Path,
                        help=f"the unpacked {PACKAGE_NAME} folder (e.g. node_modules/{PACKAGE_NAME})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if --output differs from what would be generated")
    parser.add_argument("--allow-version-mismatch", action="store_true",
                        help=f"accept a package that is not {SUPPORTED_VERSION_PREFIX}x")
    args = parser.parse_args(argv)

    try:
        document = generate(args.package_dir, allow_version_mismatch=args.allow_version_mismatch)
    except GenerateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = dumps(document)
    header = document["header"]
    summary = (f"{header['package']} {header['version']}: {header['op_count']} ops "
               f"({header['executable_op_count']} executable) in {len(header['categories'])} categories")

    if args.check:
        try:
            committed = args.output.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"{args.output} does not exist; run without --check to create it", file=sys.stderr)
            return 1
        if committed == text:
            print(f"{args.output} is up to date ({summary})")
            return 0
        try:
            old = json.loads(committed)
        except json.JSONDecodeError:
            old = {}
        print(f"{args.output} is out of date with {summary}:", file=sys.stderr)
        for line in diff_summary(old, document):
            print(f"  {line}", file=sys.stderr)
        extra = " --allow-version-mismatch" if args.allow_version_mismatch else ""
        print("  regenerate it with: python scripts/generate_op_registry.py --package-dir "
              f"{args.package_dir} --output {args.output}{extra}", file=sys.stderr)
        return 1

    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.output)
    print(f"wrote {args.output} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
