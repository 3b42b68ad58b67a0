"""``tfjsconv serve``: a local page that runs a converted model with TF.js in the browser.

:class:`ModelServer` serves the page (``static/``), the model and the pinned TF.js files;
:mod:`.browser` drives headless Chromium through it (``bench --browser`` and the browser tests).
"""
from __future__ import annotations

from .server import ModelServer

__all__ = ["ModelServer"]
