"""``tfjsconv serve MODEL_DIR``: a local web page that runs the model with TF.js in your browser.

The page (bound to 127.0.0.1) shows the signature, runs the model on random or uploaded inputs
(a picture for image-like inputs) on each backend, and charts the timings with the warm-up
discarded. TF.js comes from the pinned npm package tfjsconv installs, never from a CDN.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="open a local web page that runs the model with TF.js in the browser",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", help="the TF.js model folder (model.json + shards)")
    p.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")


def run(args: argparse.Namespace) -> int:
    from ..serve import ModelServer

    server = ModelServer(args.model_dir, port=args.port)
    print(f"Serving {server.model_name} at {server.url}  (Ctrl+C to stop)", file=sys.stdout, flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.close()
    return 0
