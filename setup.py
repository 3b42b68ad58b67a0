"""Package discovery for the two source roots: ``core/`` is ``tfjsconv``, ``plugins/`` is ``tfjsconv.plugins``.

Everything else lives in pyproject.toml; this only lists sub-packages so nobody has to keep a list by hand.
"""
from setuptools import find_packages, setup


def _packages(root: str, prefix: str) -> list[str]:
    return [prefix] + [f"{prefix}.{name}" for name in find_packages(root)]


setup(
    packages=_packages("core", "tfjsconv") + _packages("plugins", "tfjsconv.plugins"),
    package_dir={"tfjsconv": "core", "tfjsconv.plugins": "plugins"},
)
