"""Reference data shipped inside the package: the checkout's top-level `data/` folder is installed
as the package `analysis.data` (see pyproject), so the same reader works from a checkout, an
editable install and a wheel installed anywhere."""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

PACKAGE = "analysis.data"


def reference_file(name: str) -> Traversable:
    """The packaged file `data/<name>` (a path inside the installed package or the checkout)."""
    return files(PACKAGE).joinpath(name)


def read_json(name: str) -> Any:
    """`data/<name>` parsed as JSON."""
    return json.loads(reference_file(name).read_text(encoding="utf-8"))
