"""The CLI accepts tensorflowjs_converter's flags with their meanings, minus its parsing traps."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from graphs import dense_relu
from tfjsconv.cli import convert_cmd, main
from tfjsconv.cli.flags import QUANTIZE_ALL, normalize_argv


def parse_convert(*argv: str):
    from tfjsconv.cli import build_parser

    return build_parser().parse_args(convert_cmd.normalize(["convert", *argv]))


@pytest.mark.parametrize("argv, expected", [
    (["in", "out"], True),
    (["in", "out", "--strip_debug_ops=false"], False),
    (["in", "out", "--strip_debug_ops=False"], False),
    (["--strip_debug_ops", "false", "in", "out"], False),
    (["--strip_debug_ops", "in", "out"], True),
    (["in", "out", "--strip_debug_ops"], True),
    (["in", "out", "--strip_debug_ops=0"], False),
])
def test_booleans_are_real(argv, expected):
    args = parse_convert(*argv)
    assert args.strip_debug_ops is expected
    assert (args.input_path, args.output_path) == ("in", "out")


def test_quantize_flags_take_patterns_or_nothing():
    assert parse_convert("--quantize_uint8", "in", "out").quantize_uint8 is True
    assert parse_convert("in", "out", "--quantize_uint8").quantize_uint8 is True
    assert parse_convert("--quantize_uint8", "conv/*,dense*", "in", "out").quantize_uint8 == ["conv/*", "dense*"]
    assert parse_convert("in", "out", "--quantize_float16=a/*").quantize_float16 == ["a/*"]
    assert normalize_argv(["--q", "x"], bool_flags=set(), pattern_flags={"--q"}) == [f"--q={QUANTIZE_ALL}", "x"]


def test_paths_with_spaces_and_metadata(tmp_path, capsys):
    meta = tmp_path / "my meta.json"
    meta.write_text(json.dumps({"labels": ["cat", "dog"]}))
    args = parse_convert("my model/in", "my out", "--metadata", f"labels:{meta}")
    assert args.input_path == "my model/in" and args.metadata == {"labels": {"labels": ["cat", "dog"]}}


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *argv], capture_output=True, text=True)


@pytest.mark.parametrize("argv, message", [
    (["convert", "a", "b", "--no_such_flag"], "unrecognized arguments: --no_such_flag"),
    (["convert", "a", "b", "--strip_debug_ops=maybe"], "expected true or false"),
    (["convert", "a", "b", "--quantize_uint8", "--quantize_uint16"], "only one of"),
    (["convert", "a", "b", "--quantize_uint8=x*", "--quantize_uint16=x*"], "given to both"),
    (["convert", "a", "b", "--quantization_bytes=1", "--quantize_uint8"], "--quantization_bytes cannot"),
    (["convert", "a", "b", "--output_format=tfjs_layers_model", "--control_flow_v2"], "graph models only"),
    (["convert", "a", "b", "--weight_shard_size_bytes=0"], "positive integer"),
    (["convert", "a", "b", "--metadata", "nocolon"], "key:path.json"),
    (["convert", "a", "b", "--input_format=klingon"], "unknown --input_format 'klingon'"),
    (["convert", "a", "b", "--target_backends=cpu,webnn"], "--target_backends takes a comma-separated subset"),
    (["convert", "/no/such/model", "b"], "does not exist"),
])
def test_bad_flags_give_one_clear_message_and_exit_2(argv, message):
    out = run_cli(*argv)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.count("error:") == 1


def test_official_converter_shape_without_subcommand(tmp_path):
    """`tfjsconv --input_format=X in out` works like `tensorflowjs_converter`."""
    out = run_cli("--input_format=klingon", "in", "out")
    assert out.returncode == 2 and "unknown --input_format" in out.stderr


def test_convert_refuses_existing_output_unless_overwrite(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out dir"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    # Drive the real command; the "source" is resolved to an in-memory IR graph.
    monkeypatch.setattr("tfjsconv.conversion.select_frontend", lambda *a: _GraphByName())
    assert main(["convert", "graph", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    assert main(["convert", "graph", str(out), "--overwrite"]) == 2  # not a previous output: never deleted
    assert "--overwrite refuses to replace" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    (out / "keep.txt").unlink()
    assert main(["convert", "graph", str(out)]) == 0
    assert main(["convert", "graph", str(out)]) == 2
    assert main(["convert", "graph", str(out), "--overwrite"]) == 0  # a previous output is replaced
    assert (out / "model.json").exists()


class _GraphByName:
    name = "ir"
    output_formats = ("tfjs_graph_model",)

    def load(self, source, options):
        return dense_relu()


def test_ops_command_lists_and_describes(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "convolution" in out and "ops in 21 categories" in out
    assert main(["ops", "Conv2D"]) == 0
    assert '"tf_name": "strides"' in capsys.readouterr().out
    assert main(["ops", "Conv3DTransposeFoo"]) == 2
