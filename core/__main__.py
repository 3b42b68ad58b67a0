"""``python -m tfjsconv`` is the ``tfjsconv`` command."""
import sys

from .cli import main

sys.exit(main())
