"""``python -m tfjsconv`` is the ``tfjsconv`` command."""
from .cli import run

run()
