"""The cyclic garbage collector paused while the ``tfjsconv`` command starts up.

Starting a conversion imports numpy, tfjsconv and a plugin: some hundred thousand objects that live as long as
the process. The collector ran about 50 times while they were created, found nothing to free, and took about
5 % of a ResNet50 ``.h5`` -> layers run's CPU (``bench/results/issue17_speed.md``). The command (:func:`pause`,
from :func:`tfjsconv.cli.run` only, never when tfjsconv is imported as a library) pauses it until the command's
own imports are done (:func:`resume`, called by the command once it has them), then freezes what exists
(``gc.freeze``: never traversed again) and collects as usual from there on, so a conversion's own cyclic
garbage (an IR graph a pass dropped) is freed as before.
"""
from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop the collector until :func:`resume` (a no-op when the user disabled it already)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze the objects made so far and restart the collector, if :func:`pause` stopped it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
