"""Shared fixtures. Tests that run TF.js share one runtime install (npm ci on first use)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


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
