"""One check for a value drawn from a fixed set, so every option error reads the same and lists the choices."""

from __future__ import annotations

from collections.abc import Iterable

from depthlab.utils.errors import DepthlabError


def check_choice(key: str, value: object, choices: Iterable[object], none: bool = False) -> None:
    """Raise DepthlabError naming `key=value` and the allowed values (`none`: null is allowed too)."""
    options = tuple(choices)
    if (value is None and none) or value in options:
        return
    listed = ", ".join(str(c) for c in options)
    raise DepthlabError(f"{key}={value!r} is unknown; use {'null or ' if none else ''}one of {listed}")
