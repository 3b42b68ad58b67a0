"""Which TF.js backends ``verify`` runs: by default those the model was converted for (``--target_backends``,
recorded in its model.json); an explicit ``--backend`` (or ``--browser``) overrides, with a notice when it asks
for a backend the model was not converted for (and so never checked against)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, UsageError
from ..writers.target_record import recorded_targets
from .run import DEFAULT_BACKENDS

#: Backends verify can run: in Node, and webgl in headless Chromium (``--browser``).
NODE_BACKENDS = DEFAULT_BACKENDS
BROWSER_BACKENDS = ("webgl",)


@dataclass
class BackendChoice:
    """The backends to run, and what to tell the user about the choice."""

    backends: tuple[str, ...]
    targets: tuple[str, ...]
    notices: list[str] = field(default_factory=list)


def model_targets(model_dir: Path | str) -> tuple[str, ...]:
    """The ``--target_backends`` ``model_dir`` was converted for (the default ones when it records none)."""
    path = Path(model_dir) / "model.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{model_dir} has no model.json: not a TF.js model folder") from None
    except ValueError as err:  # (UnicodeDecodeError, json's JSONDecodeError)
        raise InputError(f"{path} is not valid JSON: {str(err)[:200]}") from None
    except OSError as err:
        raise InputError(f"cannot read {path}: {err}") from None
    return recorded_targets(doc if isinstance(doc, dict) else {})


def targeted_node_backends(model_dir: Path | str) -> tuple[str, ...]:
    """The Node backends (cpu, wasm) among the model's targets: what the Python API runs by default.

    A model converted for webgl alone has none: that is a usage error naming the remedy, not a report saying
    "nothing was compared" (review R1 of session 28)."""
    targets = model_targets(model_dir)
    chosen = tuple(b for b in NODE_BACKENDS if b in targets)
    if not chosen:
        raise UsageError(f"{model_dir} was converted for --target_backends={','.join(targets)}, none of which "
                         "verify runs in Node",
                         hint="pass backends=['webgl'] to run it in headless Chromium, or name a Node backend "
                         "to run it there anyway")
    return chosen


def choose_backends(model_dir: Path | str, backend: str | None, browser: bool) -> BackendChoice:
    """``backend``: the ``--backend`` given (None: the model's targets); ``browser``: ``--browser`` (adds webgl)."""
    targets = model_targets(model_dir)
    if backend is None:  # --browser asks for webgl by name; the Node backends follow the targets
        asked = BROWSER_BACKENDS if browser else ()
        chosen = (*(b for b in NODE_BACKENDS if b in targets), *asked)
    else:
        chosen = (*NODE_BACKENDS, *(BROWSER_BACKENDS if browser else ())) if backend == "all" else (backend,)
        asked = chosen
    if not chosen:
        raise UsageError(f"{model_dir} was converted for --target_backends={','.join(targets)}, none of which "
                         f"verify runs {'here' if browser else 'in Node'}",
                         hint="add --browser for webgl" if "webgl" in targets and not browser
                         else "pass --backend to run another backend anyway")
    untargeted = [b for b in asked if b not in targets]
    notices = [f"note: {model_dir} was converted for --target_backends={','.join(targets)}, not for "
               f"{', '.join(untargeted)}; running {'it' if len(untargeted) == 1 else 'them'} as asked"] if untargeted else []
    return BackendChoice(chosen, targets, notices)
