"""Flag parsing that fixes ``tensorflowjs_converter``'s traps while accepting its spellings.

* Booleans are real: ``--strip_debug_ops``, ``--strip_debug_ops=false`` and ``--strip_debug_ops false``
  all mean what they say (the official tool turns any non-empty string into True).
* ``--quantize_uint8`` alone means "every float32 weight"; ``--quantize_uint8=PATTERNS`` (or the
  patterns as the next word, when two positional arguments still follow) selects by fnmatch.
* Paths are never re-split on spaces.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..errors import UsageError

BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
QUANTIZE_ALL = "\x00all"


def parse_bool(text: str) -> bool:
    try:
        return BOOL_WORDS[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}") from None


def parse_patterns(text: str) -> bool | list[str]:
    if text == QUANTIZE_ALL:
        return True
    patterns = [p.strip() for p in text.split(",") if p.strip()]
    if not patterns:
        raise argparse.ArgumentTypeError("expected comma-separated weight name patterns")
    return patterns


def non_negative_float(text: str) -> float:
    """A tolerance: checked while parsing, before any framework loads."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type for whole numbers >= ``low`` (counts: checked while parsing, before any framework loads)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return value
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def parse_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_metadata(text: str) -> dict[str, Any]:
    """``key:file.json[,key2:file2.json]``; the key ends at the first colon, so ``C:\\x.json`` paths work."""
    result: dict[str, Any] = {}
    for item in text.split(","):
        key, sep, path = item.partition(":")
        if not sep or not key or not path:
            raise argparse.ArgumentTypeError(f"--metadata expects key:path.json, got {item!r}")
        try:
            result[key] = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise argparse.ArgumentTypeError(f"cannot read metadata file {path}: {err.strerror or err}") from None
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(f"metadata file {path} is not valid JSON: {err}") from None
    return result


def normalize_argv(argv: list[str], *, bool_flags: set[str], pattern_flags: set[str], positionals: int = 2) -> list[str]:
    """Attach values to boolean and pattern flags so argparse never swallows a path by mistake."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if token == "--":
            out.extend(argv[i:])
            break
        if token in bool_flags:
            if nxt is not None and nxt.lower() in BOOL_WORDS:
                out.append(f"{token}={nxt}")
                i += 2
                continue
            out.append(f"{token}=true")
        elif token in pattern_flags:
            rest = [t for t in argv[i + 2:] if not t.startswith("-")]
            if nxt is not None and not nxt.startswith("-") and len(rest) >= positionals:
                out.append(f"{token}={nxt}")
                i += 2
                continue
            out.append(f"{token}={QUANTIZE_ALL}")
        else:
            out.append(token)
        i += 1
    return out


class ClearArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one UsageError (exit 2) instead of printing usage twice."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", hint=f"run `{self.prog} --help` for the flags")


def add_limit_flags(parser: argparse.ArgumentParser) -> None:
    """``--max_nodes`` etc.: one flag per field of :class:`tfjsconv.limits.Limits` (docs/reliability.md)."""
    from ..limits import DEFAULT_LIMITS, Limits

    group = parser.add_argument_group("limits (a hostile input is refused instead of hanging; raise for huge models)")
    for name in Limits.names():
        group.add_argument(f"--{name}", type=int, default=None, metavar="N",
                           help=f"default {getattr(DEFAULT_LIMITS, name):,}")


def limit_options(args: argparse.Namespace) -> dict[str, int]:
    """The limit flags that were given, as ``convert`` keyword arguments."""
    from ..limits import Limits

    return {name: getattr(args, name) for name in Limits.names() if getattr(args, name, None) is not None}
