"""One exception type for user mistakes, so entry points can print one line instead of a traceback."""

import re


class DepthlabError(ValueError):
    """A problem in the user's input (config, path, file, shape): the message names it and the fix."""


def one_line(message: str) -> str:
    """Collapse a multi-line library message (Hydra, OmegaConf) into one readable line."""
    lines: list[str] = []
    for raw in str(message).splitlines():
        line = raw.strip()
        if line.startswith("Config search path"):
            break
        if line and not line.startswith(("full_key:", "object_type=", "Set the environment variable")):
            lines.append(line)
    text = "; ".join(lines)
    return text.replace(":;", ":").replace("\t", " ")


def original_message(message: str) -> str:
    """The user's one line inside a DataLoader worker's re-raised traceback (the message itself otherwise)."""
    found = re.findall(r"^(?:[\w.]+\.)?DepthlabError: (.*)$", str(message), flags=re.MULTILINE)
    return found[-1] if found else str(message)
