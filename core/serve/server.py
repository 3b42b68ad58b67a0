"""The ``tfjsconv serve`` web server: stdlib ``http.server`` bound to 127.0.0.1.

It serves exactly four kinds of file and nothing else: the page's own static assets (package
data), the model's ``model.json`` and the shard files its manifest lists (resolved inside the
model folder), TF.js and its wasm backend from the pinned npm runtime (never a CDN: the browser
may have no internet), and two small JSON endpoints (``/api/info``, ``/api/random``).
"""
from __future__ import annotations

import errno
import json
import math
import mimetypes
import threading
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from ..errors import InputError, UsageError

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: URL path -> file inside the runtime's node_modules.
RUNTIME_FILES = {
    "tf.min.js": "@tensorflow/tfjs/dist/tf.min.js",
    "tf-backend-wasm.min.js": "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
    "tfjs-backend-wasm.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm": "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm",
}
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".json": "application/json", ".wasm": "application/wasm", ".bin": "application/octet-stream",
          ".png": "image/png", ".svg": "image/svg+xml"}


class ModelServer:
    """Serve one TF.js model folder and the page that runs it; ``port=0`` picks a free port."""

    def __init__(self, model_dir: str | Path, *, port: int = 8080, host: str = "127.0.0.1",
                 runtime_dir: Path | None = None, inputs: dict[str, np.ndarray] | None = None) -> None:
        from ..inspect import inspect_model
        from ..inspect.tfjs_model import is_tfjs_model

        path = Path(model_dir)
        if not path.exists():
            raise InputError(f"{path} does not exist; expected a TF.js model folder (model.json + weight shards)")
        if not is_tfjs_model(path):
            raise InputError(f"{path} is not a TF.js model folder (it has no model.json)",
                             hint="convert the model first: tfjsconv convert SOURCE OUT_DIR")
        self.inspection = inspect_model(path)  # checks model.json and every shard
        self.model_dir = Path(self.inspection["path"]).resolve()
        self.model_name = self.model_dir.name
        #: When set, the page's "random" inputs are these (``bench --browser --inputs``).
        self.fixed_inputs = inputs
        self.files = {"model.json": self.model_dir / "model.json"}
        from ..weights.reader import resolve_shard_path

        for shard in self.inspection["shards"]:
            self.files[shard["path"]] = resolve_shard_path(self.model_dir, shard["path"])
        if runtime_dir is None:
            from ..verify.runtime import ensure_runtime

            runtime_dir = ensure_runtime()
        self.node_modules = Path(runtime_dir) / "node_modules"
        missing = [rel for rel in RUNTIME_FILES.values() if not (self.node_modules / rel).is_file()]
        if missing:
            raise InputError(f"the TF.js runtime in {runtime_dir} lacks {', '.join(missing)}",
                             hint="delete that folder; tfjsconv reinstalls it")
        handler = partial(_Handler, self)
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {host} is in use", hint="pass --port 0 to pick a free one") from None
            raise UsageError(f"cannot listen on {host}:{port}: {err}") from None
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def info(self) -> dict[str, Any]:
        from ..verify.runtime import tfjs_version

        doc = self.inspection
        return {"name": self.model_name, "path": str(self.model_dir), "format": doc["format"],
                "model_type": doc["model_type"], "generated_by": doc.get("generated_by"),
                "signature": doc["signature"], "weights": {k: doc["weights"][k] for k in ("count", "parameters", "bytes")},
                "ops": (doc.get("ops") or {}).get("nodes"), "tfjs_version": tfjs_version()}

    def random_inputs(self, seed: int) -> dict[str, Any]:
        from ..verify.inputs import input_specs, random_inputs

        arrays = self.fixed_inputs if self.fixed_inputs is not None else random_inputs(input_specs(self.model_dir),
                                                                                       seed=seed)
        return {name: encode_array(array) for name, array in arrays.items()}

    # -- running ----------------------------------------------------------------------------
    def start(self) -> ModelServer:
        """Serve in a background thread (tests, ``bench --browser``)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="tfjsconv-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """An array as JSON the page turns into a tensor: dtype, shape and flat values."""
    if array.dtype.kind == "b":
        dtype, values = "bool", array.reshape(-1).astype(int).tolist()
    elif array.dtype.kind in "iu":
        dtype, values = "int32", array.reshape(-1).astype(np.int64).tolist()
    elif array.dtype.kind in "OUS":
        dtype, values = "string", [str(v) for v in array.reshape(-1).tolist()]
    else:  # JSON has no NaN/Infinity (the page's JSON.parse rejects them): those travel as strings
        dtype, values = "float32", [v if math.isfinite(v) else _NON_FINITE[str(v)]
                                    for v in array.reshape(-1).astype(np.float64).tolist()]
    return {"dtype": dtype, "shape": list(array.shape), "values": values}


#: Python's names of the non-finite floats -> the strings the page reads back with ``Number()``.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class _Handler(BaseHTTPRequestHandler):
    server_version = "tfjsconv-serve"

    def __init__(self, app: ModelServer, *args: Any, **kwargs: Any) -> None:
        self.app = app
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: the page is local and the terminal shows the URL

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if path in ("/", "/index.html"):
            return self._file(STATIC_DIR / "index.html")
        if path.startswith("/static/"):
            name = path[len("/static/"):]
            candidate = (STATIC_DIR / name).resolve()
            if "/" in name or not candidate.is_file() or candidate.parent != STATIC_DIR:
                return self._error(HTTPStatus.NOT_FOUND)
            return self._file(candidate)
        if path.startswith("/model/"):
            file = self.app.files.get(path[len("/model/"):])
            return self._file(file) if file is not None else self._error(HTTPStatus.NOT_FOUND)
        if path.startswith("/tfjs/"):
            rel = RUNTIME_FILES.get(path[len("/tfjs/"):])
            return self._file(self.app.node_modules / rel) if rel else self._error(HTTPStatus.NOT_FOUND)
        if path == "/api/info":
            return self._json(self.app.info())
        if path == "/api/random":
            try:
                seed = int(parse_qs(parts.query).get("seed", ["0"])[0])
            except ValueError:
                return self._error(HTTPStatus.BAD_REQUEST)
            try:
                return self._json(self.app.random_inputs(seed))
            except InputError as err:
                return self._json({"error": err.message}, HTTPStatus.UNPROCESSABLE_ENTITY)
        return self._error(HTTPStatus.NOT_FOUND)

    def _headers(self, status: HTTPStatus, content_type: str, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()

    def _file(self, file: Path) -> None:
        try:
            data = file.read_bytes()
        except OSError:
            return self._error(HTTPStatus.NOT_FOUND)
        content_type = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self._headers(HTTPStatus.OK, content_type, len(data))
        self.wfile.write(data)

    def _json(self, doc: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = json.dumps(doc).encode("utf-8")
        self._headers(status, "application/json", len(data))
        self.wfile.write(data)

    def _error(self, status: HTTPStatus) -> None:
        data = f"{status.value} {status.phrase}\n".encode()
        self._headers(status, "text/plain", len(data))
        self.wfile.write(data)
