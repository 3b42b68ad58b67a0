"""The part the ``generate_*_support`` scripts share: replace the generated block between two markers
of a docs page, or with ``--check`` only report whether it is stale (exit 1), so a test can run it."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def updated(text: str, section: str, begin: str, end: str) -> str:
    """``text`` with its generated section replaced (appended when the markers are missing)."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    return text[:start] + section + text[stop + len(end):]


def main(argv: list[str] | None, *, description: str, default_doc: Path, begin: str, end: str,
         render: Callable[[], str], what: str, script: str) -> int:
    """The command line of a generator script: ``what`` names the section in messages (``ONNX ops section``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--doc", type=Path, default=default_doc, help="the page to update (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the section is out of date")
    args = parser.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    new = updated(text, render(), begin, end)
    if args.check:
        if new == text:
            print(f"{args.doc}: the {what} is up to date")
            return 0
        print(f"{args.doc}: the {what} is out of date; run {script}", file=sys.stderr)
        return 1
    if new != text:
        args.doc.write_text(new, encoding="utf-8")
    print(f"{args.doc}: {what} written")
    return 0
