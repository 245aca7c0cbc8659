"""The package's own data files (``katib_gitops.schemas``: JSON Schemas, the Job field model), read once per
caller: each module that needs one compiles it and keeps the result.

Kept to the standard library and free of the rest of the package, so the input stage (spec, settings)
and the validators read schemas the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_schema(name: str) -> dict[str, Any] | None:
    """A schema file from the katib_gitops.schemas package; None when it is not there."""
    from importlib.util import find_spec

    # The package's directory, found without importlib.resources' readers (a few ms at every start).
    spec = find_spec("katib_gitops.schemas")
    if spec is not None and spec.submodule_search_locations:
        try:
            with open(Path(list(spec.submodule_search_locations)[0]) / name, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            pass
    from importlib import resources

    ref = resources.files("katib_gitops.schemas").joinpath(name)
    try:
        return json.loads(ref.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
