"""Shared fixtures. Tests that run TF.js share one runtime install (npm ci on first use)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# The reference answers come from TensorFlow's CPU kernels, and which kernels those are depends on the
# processor: TensorFlow turns oneDNN on by itself only on some Intel CPUs. Without it (an AMD machine) its
# CPU kernels refuse NCHW convolutions and pools and dilated transposed convolutions, so Keras cannot
# compute a channels_first or dilated Conv2DTranspose model at all, and Softmax spreads NaN differently
# over a row holding +Inf. Asking for oneDNN everywhere gives every machine, and every subprocess a test
# starts, the same TensorFlow to compare with (a test that needs the plain kernels sets it to 0 itself).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


@pytest.fixture(scope="session")
def tfjs_runtime() -> Path:
    """The installed Node runtime folder; installs it once (tens of seconds) on a fresh machine."""
    from tfjsconv.verify.runtime import ensure_runtime

    return ensure_runtime()


@pytest.fixture(autouse=True)
def _fresh_plugin_manager():
    """Each test sees plugins as installed right now (some tests install or break plugins)."""
    from tfjsconv.plugin_manager import reset_plugin_manager

    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture(scope="module")
def browser(tfjs_runtime):
    """One headless Chromium (WebGL2 on SwiftShader) per test module: starting it costs ~2 s, each model
    then ~1 s. Skipped without Chromium, unless TFJSCONV_REQUIRE_BROWSER=1 (CI) makes that a failure."""
    import os

    from tfjsconv.errors import RuntimeMissingError
    from tfjsconv.serve.browser import BrowserSession, find_chromium

    try:
        find_chromium()
    except RuntimeMissingError as err:
        reason = f"{err.message}; the webgl tests need Chromium (apt-get install chromium)"
        if os.environ.get("TFJSCONV_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " and TFJSCONV_REQUIRE_BROWSER=1 requires them to run")
        pytest.skip(reason)
    with BrowserSession(timeout=120) as session:
        yield session
