#!/usr/bin/env python3
"""Regenerate ``core/ops/data/tfjs_backends.json``: what each TF.js 4.22 backend can run.

Why generated: a model that loads but then crashes on wasm is worse than a refusal, and the only
trustworthy list of what a backend runs is the backend package itself. Three parts, each marked in
the file by where it comes from:

1. ``backends`` (generated): the kernels each backend registers. Node imports ``@tensorflow/tfjs``
   (which registers the cpu and webgl kernels) and ``@tensorflow/tfjs-backend-wasm`` from the verify
   runtime and asks ``tf.getKernelsForBackend(name)``: exactly what the packages' own
   ``register_all_kernels`` lists put in the registry.
2. ``ops`` (generated, with a reviewed table): graph op -> kernels it dispatches to. The
   tfjs-converter executors (``dist/operations/executors/*.js``) are read statically: every
   ``case 'Op':`` block's ``ops.fn(...)`` calls are followed into ``@tensorflow/tfjs-core``'s
   ``dist/ops`` modules, through the op functions each module imports and calls, to the
   ``ENGINE.runKernel(Kernel, ...)`` calls. Kernels only gradients use (``*Grad``, ``*Backprop*``,
   unless the graph op is itself one) are dropped. ``CONDITIONAL_KERNELS`` below is the reviewed
   table of kernels a module reaches only under a dtype condition (``abs`` runs ``ComplexAbs`` only for
   complex64): those become dtype-conditioned requirements instead of unconditional ones.
3. ``limits`` (probed and curated): dtype and attribute limits no package states.
   ``scripts/probe_backends.py`` runs ops on each backend and commits its findings to
   ``core/ops/data/tfjs_backend_probe.json``; the generator copies them in. ``CURATED_LIMITS`` holds
   the few that come from reading the kernel sources, each with its reason.

Usage::

    python scripts/generate_backend_contract.py            # uses the verify runtime
    python scripts/generate_backend_contract.py --check    # exit 1 if the committed file is stale
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

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "core" / "ops" / "data" / "tfjs_backends.json"
PROBE_FILE = REPO_ROOT / "core" / "ops" / "data" / "tfjs_backend_probe.json"
BACKENDS = ("cpu", "wasm", "webgl")
VERSION = "4.22.0"

#: Reviewed: (tfjs-core op module, kernel) pairs that run only for complex64 tensors (``abs`` runs
#: ``ComplexAbs``, ``zeros``/``ones`` build a ``Complex``, ``transpose`` splits into ``Real``/``Imag``).
#: Without this the static walk would say ``Abs``, ``Transpose``, ``MatrixBandPart`` ... need kernels wasm
#: lacks and refuse them all; with it they become ``conditional_kernels`` (needed when the node has a
#: complex64 input or dtype attr).
CONDITIONAL_KERNELS: dict[tuple[str, str], str] = {
    # (module, kernel it runs or module it calls): everything reached that way is conditional
    ("abs", "ComplexAbs"): "complex64",
    ("zeros", "complex"): "complex64",
    ("ones", "complex"): "complex64",
    ("transpose", "complex"): "complex64",
    ("transpose", "real"): "complex64",
    ("transpose", "imag"): "complex64",
}

#: Reviewed limits read from the kernel sources (the probe confirms what it can run).
CURATED_LIMITS: list[dict[str, Any]] = [
    {"op": "Conv2D", "backend": "wasm", "when": {"attr:data_format": ["NCHW"]}, "outcome": "throws",
     "reason": "the wasm Conv2D kernel supports only NHWC (tfjs-backend-wasm kernels/Conv2D.ts)"},
    {"op": "_FusedConv2D", "backend": "wasm", "when": {"attr:data_format": ["NCHW"]}, "outcome": "throws",
     "reason": "the wasm FusedConv2D kernel supports only NHWC (tfjs-backend-wasm kernels/FusedConv2D.ts)"},
]

_KERNEL_SNIPPET = r"""
import { createRequire } from 'node:module';
const require = createRequire(process.argv[2] + '/package.json');
console.log = console.error; console.warn = console.error; console.info = console.error;
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const out = { versions: { tfjs: tf.version.tfjs } };
for (const name of process.argv.slice(3)) {
  out[name] = tf.getKernelsForBackend(name).map(k => k.kernelName).sort();
}
process.stdout.write(JSON.stringify(out));
"""


class GenerateError(Exception):
    """The runtime or node is not what the generator needs; the message says what to do."""


# -- kernels per backend ------------------------------------------------------------------------
def backend_kernels(runtime: Path, node: str = "node") -> dict[str, Any]:
    """{backend: sorted kernel names, "versions": {...}} from the packages' kernel registrations."""
    node_path = shutil.which(node)
    if node_path is None:
        raise GenerateError("node not found on PATH; install Node.js (>= 18)")
    with tempfile.TemporaryDirectory(prefix="tfjsconv-kernels-") as tmp:
        script = Path(tmp) / "kernels.mjs"
        script.write_text(_KERNEL_SNIPPET, encoding="utf-8")
        proc = subprocess.run([node_path, str(script), str(runtime), *BACKENDS],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GenerateError(f"node failed to list the kernels:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


# -- static walk of the JS modules ----------------------------------------------------------------
_IMPORT = re.compile(r"^import\s*\{([^}]*)\}\s*from\s*'([^']+)';", re.M)
_IMPORT_NS = re.compile(r"^import\s+\*\s+as\s+(\w+)\s+from\s+'([^']+)';", re.M)
_REEXPORT = re.compile(r"^export\s*\{([^}]*)\}\s*from\s*'([^']+)';", re.M)
_LOCAL_EXPORT = re.compile(r"^export\s+(?:const|function|let|class)\s+(\w+)", re.M)
_RUN_KERNEL = re.compile(r"runKernel\(\s*(\w+)")
_COMMENT = re.compile(r"/\*.*?\*/|^\s*//.*?$", re.S | re.M)


def _names(spec: str) -> list[tuple[str, str]]:
    """``a, b as c`` -> [(a, a), (b, c)] as (exported, local)."""
    pairs = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            exported, _, local = part.partition(" as ")
            pairs.append((exported.strip(), (local or exported).strip()))
    return pairs


class ModuleGraph:
    """tfjs-core's ``dist/ops`` modules: which op functions call which, and which kernels they run."""

    def __init__(self, core_dir: Path) -> None:
        self.dist = core_dir / "dist"
        self._text: dict[Path, str] = {}
        self.kernel_names = dict(re.findall(r"^export const (\w+) = '([^']+)';", self._read(self.dist / "kernel_names.js"), re.M))

    def _read(self, path: Path) -> str:
        if path not in self._text:
            source = path.read_text(encoding="utf-8").split("//# sourceMappingURL")[0]
            self._text[path] = _COMMENT.sub("", source)
        return self._text[path]

    def _resolve_path(self, origin: Path, spec: str) -> Path | None:
        if not spec.startswith("."):
            return None
        target = (origin.parent / spec).resolve()
        for candidate in (target.with_suffix(".js") if target.suffix != ".js" else target, target / "index.js"):
            if candidate.is_file():
                return candidate
        return None

    def imports(self, path: Path) -> dict[str, tuple[Path, str]]:
        """local name -> (module, exported name) for the relative ``import {..}`` lines."""
        found: dict[str, tuple[Path, str]] = {}
        for spec, source in _IMPORT.findall(self._read(path)):
            module = self._resolve_path(path, source)
            if module is not None:
                for exported, local in _names(spec):
                    found[local] = (module, exported)
        return found

    def resolve(self, path: Path, name: str, depth: int = 0) -> tuple[Path, str] | None:
        """The module that defines export ``name`` of ``path`` (following re-exports)."""
        if depth > 10:
            return None
        text = self._read(path)
        if name in _LOCAL_EXPORT.findall(text):
            return path, name
        for spec, source in _REEXPORT.findall(text):
            for exported, local in _names(spec):
                if local == name:
                    module = self._resolve_path(path, source)
                    return self.resolve(module, exported, depth + 1) if module else None
        match = re.search(r"^export\s*\{([^}]*)\};", text, re.M)
        if match and name in [local for _, local in _names(match.group(1))]:
            imported = self.imports(path).get(name)
            if imported:
                return self.resolve(imported[0], imported[1], depth + 1)
            return path, name  # `function fill(...) {...} export { fill };`
        for source in re.findall(r"^export\s*\*\s*from\s*'([^']+)';", text, re.M):
            module = self._resolve_path(path, source)
            found = self.resolve(module, name, depth + 1) if module else None
            if found:
                return found
        namespace = re.search(rf"^const {re.escape(name)} = \{{([^}}]*)\}};", text, re.M)
        if namespace:  # ops.js namespaces (spectral, image ...): resolved member by member elsewhere
            return path, name
        return None

    def namespace_member(self, ops_module: Path, namespace: str, member: str) -> tuple[Path, str] | None:
        text = self._read(ops_module)
        for alias, source in _IMPORT_NS.findall(text):
            if alias == namespace:
                module = self._resolve_path(ops_module, source)
                return self.resolve(module, member) if module else None
        block = re.search(rf"^const {re.escape(namespace)} = \{{([^}}]*)\}};", text, re.M)
        if block is None:
            return None
        members = {}
        for part in block.group(1).split(","):
            key, _, value = part.strip().partition(":")
            if key:
                members[key.strip()] = (value or key).strip()
        local = members.get(member)
        imported = self.imports(ops_module).get(local) if local else None
        return self.resolve(imported[0], imported[1]) if imported else None

    def direct(self, path: Path) -> tuple[set[str], set[Path]]:
        """Kernels ``path`` runs itself, and the op modules whose functions it calls."""
        text = self._read(path)
        imports = self.imports(path)
        kernels = {self.kernel_names[name] for name in _RUN_KERNEL.findall(text) if name in self.kernel_names}
        body = re.sub(r"^import .*?;$", "", text, flags=re.M)
        callees: set[Path] = set()
        for local, (module, exported) in imports.items():
            if module.name in ("kernel_names.js", "engine.js") or "/ops/" not in module.as_posix():
                continue
            if re.search(rf"(?<![\w.$]){re.escape(local)}\s*\(", body):
                target = self.resolve(module, exported)
                if target and target[0] != path:
                    callees.add(target[0])
        return kernels, callees

    def closure(self, start: Path) -> dict[str, str | None]:
        """kernel -> None (always run) or the condition under which everything ``start`` calls runs it.

        A kernel or callee module listed in ``CONDITIONAL_KERNELS`` for its caller makes that branch
        conditional; a kernel reached unconditionally on any path is unconditional.
        """
        found: dict[str, str | None] = {}
        seen: set[tuple[Path, str | None]] = set()
        todo: list[tuple[Path, str | None]] = [(start, None)]
        while todo:
            path, condition = todo.pop()
            if (path, condition) in seen:
                continue
            seen.add((path, condition))
            kernels, callees = self.direct(path)
            for kernel in kernels:
                when = condition or CONDITIONAL_KERNELS.get((path.stem, kernel))
                if kernel not in found or when is None:
                    found[kernel] = when
            for callee in callees:
                todo.append((callee, condition or CONDITIONAL_KERNELS.get((path.stem, callee.stem))))
        return found


def executor_calls(converter_dir: Path) -> dict[str, list[str]]:
    """graph op -> the ``ops.*`` functions its executor case calls (``fused.conv2d`` for namespaces)."""
    calls: dict[str, list[str]] = {}
    executors = sorted((converter_dir / "dist" / "operations" / "executors").glob("*_executor.js"))
    if not executors:
        raise GenerateError(f"no executors in {converter_dir}; is this a built @tensorflow/tfjs-converter?")
    for path in executors:
        text = _COMMENT.sub("", path.read_text(encoding="utf-8").split("//# sourceMappingURL")[0])
        body = text[text.find("export const executeOp"):]
        pieces = re.split(r"\bcase\s+'(\w+)'\s*:", body)
        pending: list[str] = []
        for label, block in zip(pieces[1::2], pieces[2::2]):
            pending.append(label)
            block = re.split(r"\bdefault\s*:", block)[0]
            functions = sorted(set(re.findall(r"\bops\.(\w+(?:\.\w+)?)\s*\(", block)))
            if not block.strip():  # fall-through: `case 'A': case 'B': {...}`
                continue
            for op in pending:
                calls[op] = functions
            pending = []
    return calls


def _is_gradient_kernel(kernel: str) -> bool:
    return kernel.endswith("Grad") or "Backprop" in kernel


def op_kernels(converter_dir: Path, core_dir: Path) -> dict[str, dict[str, Any]]:
    """graph op -> {"functions": [...], "kernels": [...], "conditional": {...}}."""
    graph = ModuleGraph(core_dir)
    ops_module = core_dir / "dist" / "ops" / "ops.js"
    result: dict[str, dict[str, Any]] = {}
    for op, functions in sorted(executor_calls(converter_dir).items()):
        kernels: set[str] = set()
        conditional: dict[str, str] = {}
        for function in functions:
            if "." in function:
                target = graph.namespace_member(ops_module, *function.split(".", 1))
            else:
                target = graph.resolve(ops_module, function)
            if target is None:
                raise GenerateError(f"cannot find tfjs-core's ops.{function} (used by {op}); update ModuleGraph")
            for kernel, when in graph.closure(target[0]).items():
                if _is_gradient_kernel(kernel) and kernel != op:
                    continue
                if when is None or kernel == op:  # ComplexAbs always runs the ComplexAbs kernel
                    kernels.add(kernel)
                else:
                    conditional[kernel] = when
        result[op] = {"functions": functions, "kernels": sorted(kernels)}
        if conditional:
            result[op]["conditional_kernels"] = {k: conditional[k] for k in sorted(conditional) if k not in kernels}
    return result


# -- assembling the document ----------------------------------------------------------------------
def find_packages(runtime: Path) -> dict[str, Path]:
    base = runtime / "node_modules" / "@tensorflow"
    packages = {name: base / name for name in ("tfjs-converter", "tfjs-core")}
    for name, path in packages.items():
        if not (path / "package.json").is_file():
            raise GenerateError(f"@tensorflow/{name} not found in {runtime}")
        version = json.loads((path / "package.json").read_text(encoding="utf-8"))["version"]
        if version != VERSION:
            raise GenerateError(f"@tensorflow/{name} is {version}, not {VERSION}")
    return packages


def load_probe(path: Path = PROBE_FILE) -> dict[str, Any]:
    if not path.is_file():
        return {"limits": []}
    return json.loads(path.read_text(encoding="utf-8"))


def generate(runtime: Path, *, probe: dict[str, Any] | None = None, node: str = "node") -> dict[str, Any]:
    packages = find_packages(runtime)
    kernels = backend_kernels(runtime, node=node)
    ops = op_kernels(packages["tfjs-converter"], packages["tfjs-core"])
    probe = load_probe() if probe is None else probe
    limits = [dict(limit, source="curated") for limit in CURATED_LIMITS]
    limits += [dict(limit, source="probe") for limit in probe.get("limits", [])]
    limits.sort(key=lambda l: (l["op"], l["backend"], json.dumps(l, sort_keys=True)))
    return {
        "header": {
            "tfjs_version": kernels["versions"]["tfjs"],
            "backends": list(BACKENDS),
            "generator": "scripts/generate_backend_contract.py",
            "note": ("generated file, do not edit. backends: kernels each backend registers (generated); "
                     "ops: graph op -> kernels, from a static walk of tfjs-converter's executors into "
                     "tfjs-core's ops (generated; conditional_kernels from a reviewed table); limits: "
                     "source=curated from the kernel sources, source=probe from scripts/probe_backends.py; "
                     "quirks: value-dependent differences the probe found (0/0, int32 overflow), which no "
                     "dtype/attr selector can refuse: documented, never checked"),
            "webgpu": "not included: the verify runtime does not install @tensorflow/tfjs-backend-webgpu",
            "probe": probe.get("header", {}),
        },
        "backends": {name: {"kernels": kernels[name]} for name in BACKENDS},
        "ops": ops,
        "limits": limits,
        "quirks": probe.get("quirks", []),
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def default_runtime() -> Path:
    sys.path.insert(0, str(REPO_ROOT))
    from tfjsconv.verify.runtime import ensure_runtime

    return ensure_runtime(quiet=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", type=Path, help="folder with node_modules/@tensorflow (default: the verify runtime)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    args = parser.parse_args(argv)
    try:
        document = generate(args.runtime or default_runtime())
    except GenerateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = dumps(document)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is stale; run scripts/generate_backend_contract.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: {len(document['ops'])} ops, {len(document['limits'])} limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
