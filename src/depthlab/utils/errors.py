"""One exception type for user mistakes, so entry points can print one line instead of a traceback."""


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
