"""The one orchestration function the CLI and Python users call."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from .errors import InputError, UsageError
from .frontend import Frontend, as_path
from .ir import Graph
from .model import LayersModel, Model
from .options import ConvertOptions
from .plugin_manager import PluginManager, Registry, get_plugin_manager
from .writers import Writer, atomic_output_dir
from .writers.atomic import check_output_dir

@dataclasses.dataclass
class ConversionResult:
    """What a conversion did: where it wrote, with what, and what changed on the way."""

    output_dir: Path
    input_format: str
    output_format: str
    model_format: str
    seconds: dict[str, float]
    facts: dict[str, Any]
    op_histogram: dict[str, int] | None = None
    pass_report: Any = None
    #: One-line notes the summary prints (special-value deviations on the target backends).
    notices: list[str] = dataclasses.field(default_factory=list)
    #: How the frontend built the graph (``Graph.notes``); the summary prints them with ``--verbose``.
    details: list[str] = dataclasses.field(default_factory=list)


def select_frontend(source: Any, input_format: str | None, registry: Registry) -> Frontend:
    """The frontend named by ``input_format``, or the one that recognises ``source``."""
    if input_format:
        try:
            return registry.frontends[input_format]
        except KeyError:
            known = ", ".join(sorted(registry.frontends)) or "none"
            raise UsageError(f"unknown --input_format {input_format!r}", hint=f"installed formats: {known}") from None
    path = as_path(source)
    if path is not None and not path.exists():
        claimed = [f for f in registry.frontends.values() if f.claims_remote(source)]
        if len(claimed) == 1:
            return claimed[0]
        raise InputError(f"input {path} does not exist")
    matches = [f for f in registry.frontends.values() if f.detect(source)]
    if len(matches) == 1:
        return matches[0]
    what = str(path) if path is not None else type(source).__name__
    if not matches:
        known = ", ".join(sorted(registry.frontends))
        raise InputError(f"cannot tell what kind of model {what} is",
                         hint=f"pass --input_format (installed: {known}); `tfjsconv plugins` lists the frontends")
    names = ", ".join(sorted(f.name for f in matches))
    raise UsageError(f"{what} could be any of: {names}", hint="pass --input_format to choose")


def select_writer(frontend: Frontend, output_format: str | None, registry: Registry) -> Writer:
    output_format = output_format or frontend.output_formats[0]
    if output_format not in frontend.output_formats:
        raise UsageError(f"--input_format={frontend.name} cannot be converted to --output_format={output_format}",
                         hint=f"supported: {', '.join(frontend.output_formats)}")
    try:
        return registry.writers[output_format]
    except KeyError:
        raise UsageError(f"no writer for --output_format={output_format} is installed") from None


def input_paths(source: Any) -> list[Path]:
    """The files or folders a conversion of ``source`` reads (the output may not overlap them)."""
    path = as_path(source)
    return [path] if path is not None and (path.exists() or path.is_symlink()) else []


def run_passes(graph: Graph, options: ConvertOptions, registry: Registry) -> Any:
    """Run the passes ``options`` select (level, ``--skip_passes``) to a fixed point; return their report."""
    from .passes import PassManager, select_passes

    passes = select_passes(registry.passes, level=options.optimization_level, skip=options.skip_passes, options=options)
    return PassManager(passes).run(graph)


def optimize_and_check(graph: Graph, options: ConvertOptions, registry: Registry) -> Any:
    """Run the passes, then refuse ops TF.js cannot execute (naming all of them)."""
    from .ops.registry import OpRegistry

    report = run_passes(graph, options, registry)
    ops = OpRegistry.builtin().with_custom(registry.ops)
    ops.check(graph, strip_debug_ops=options.strip_debug_ops, skip_op_check=options.skip_op_check)
    check_backends(graph, options)
    return report


def check_backends(graph: Graph, options: ConvertOptions) -> Any:
    """Refuse nodes a ``--target_backends`` backend cannot run (missing kernel, dtype, attr), naming all."""
    from .ops.backends import BackendContract

    return BackendContract.load().check(graph, options.target_backends, skip_op_check=options.skip_op_check)


def special_value_notice(graph: Graph, options: ConvertOptions) -> str | None:
    """One line naming the ops of ``graph`` whose TF.js kernels give other results than TF on special values."""
    from .ops.special_values import found_in, notice

    return notice(found_in(graph, options.target_backends), exact=options.exact_special_values)


def convert(
    source: Any,
    output_dir: str | Path,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    plugin_manager: PluginManager | None = None,
    progress: Any = None,
    **options: Any,
) -> ConversionResult:
    """Convert ``source`` (a path or an in-memory model) into a TF.js model in ``output_dir``.

    ``options`` are the converter flags as keyword arguments (``quantize_uint8=["conv/*"]``,
    ``weight_shard_size_bytes=…``, ``overwrite=True`` …); see :class:`ConvertOptions`.
    ``progress``: a :class:`tfjsconv.progress.Progress` to show load/passes/shards on a terminal.
    """
    opts = options.pop("options", None) or ConvertOptions.from_kwargs(
        input_format=input_format, output_format=output_format, **options)
    registry = (plugin_manager or get_plugin_manager()).registry
    if opts.skip_passes:  # a misspelt or required pass is a usage error before any framework loads
        from .passes import check_skip_names

        check_skip_names(registry.passes, opts.skip_passes)
    output_dir = Path(output_dir)
    frontend = select_frontend(source, opts.input_format, registry)
    writer = select_writer(frontend, opts.output_format, registry)
    opts.input_format, opts.output_format = frontend.name, writer.name
    opts.registry = registry
    opts.check()
    check_output_dir(output_dir, overwrite=opts.overwrite, inputs=input_paths(source))
    from .progress import Progress, using

    progress = progress or Progress(enabled=False)
    with using(progress):
        return _convert_stages(source, output_dir, frontend, writer, opts, registry, progress)


def _convert_stages(source: Any, output_dir: Path, frontend: Frontend, writer: Writer, opts: ConvertOptions,
                    registry: Registry, progress: Any) -> ConversionResult:
    from .progress import weight_bytes

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    from .input_guard import input_errors

    from .pass_session import frontend_pass_session

    with progress.stage("load"), input_errors(as_path(source) or type(source).__name__, frontend.name), \
            frontend_pass_session(opts, registry) as frontend_pass_stats:
        model: Model = frontend.load(source, opts)
    seconds["load"] = time.perf_counter() - start
    if not writer.accepts(model):
        raise UsageError(f"the {frontend.name} frontend produced a {type(model).__name__}, "
                         f"which {writer.name} cannot write")

    pass_report, notices = None, []
    if isinstance(model, Graph):
        from .limits import check_limit

        # The frontends refuse oversized inputs before building anything; this is the net for the rest.
        check_limit("max_nodes", len(model) + sum(len(f) for f in getattr(model, "functions", {}).values()),
                    opts.limits, f"the graph of {as_path(source) or type(source).__name__} has too many nodes")
        from .wide_dtypes import note_wide_dtypes

        note_wide_dtypes(model, opts.input_format)  # before the passes rewrite float64/int64 attrs
        start = time.perf_counter()
        with progress.stage("optimize"):
            pass_report = optimize_and_check(model, opts, registry)
        pass_report.stats[:0] = frontend_pass_stats  # --verbose: the frontend passes first, as they ran
        seconds["optimize"] = time.perf_counter() - start
        notices = [*getattr(model, "notices", []), *[line for line in [special_value_notice(model, opts)] if line]]
    elif isinstance(model, LayersModel):
        notices = list(model.notices)

    start = time.perf_counter()
    with progress.stage("write", total=weight_bytes(model)), \
            atomic_output_dir(output_dir, overwrite=opts.overwrite, inputs=input_paths(source)) as staging:
        facts = writer.write(model, staging, opts)
    seconds["write"] = time.perf_counter() - start
    return ConversionResult(
        output_dir=output_dir,
        input_format=frontend.name,
        output_format=writer.name,
        model_format="layers-model" if isinstance(model, LayersModel) else "graph-model",
        seconds=seconds,
        facts=facts,
        op_histogram=model.op_histogram() if isinstance(model, Graph) else None,
        pass_report=pass_report,
        notices=notices,
        details=list(getattr(model, "notes", [])),
    )
