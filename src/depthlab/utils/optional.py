"""Extras (a baseline, image panels) that must never cost a run its results."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from depthlab.utils.errors import one_line

log = logging.getLogger("depthlab")
T = TypeVar("T")


def optional(what: str, make: Callable[[], T]) -> T | None:
    """Run an extra; a failure becomes one warning line and None (the run's results are already safe)."""
    try:
        return make()
    except Exception as err:  # noqa: BLE001 - optional by design
        log.warning(f"{what} failed and was skipped ({type(err).__name__}: {one_line(str(err))})")
        return None
