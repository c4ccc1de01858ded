"""One exception type for user mistakes, so entry points can print one line instead of a traceback."""

import errno
import re
import sys


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


def fail(message: str, code: int = 2) -> None:
    """Print one line naming the problem and its fix to stderr, then exit non-zero."""
    print(f"depthlab: error: {one_line(message)}", file=sys.stderr)
    sys.exit(code)


def user_error(err: BaseException | None) -> DepthlabError | None:
    """The DepthlabError behind an exception (Hydra wraps errors raised while instantiating)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, DepthlabError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


class NonFiniteLossError(DepthlabError):
    """Training produced a NaN / inf loss or gradient: its own exit code, so schedulers can tell it apart."""

    exit_code = 3


DISK_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def disk_error(err: BaseException | None) -> DepthlabError | None:
    """A read-only, forbidden or full output location (anywhere in the exception chain) as a one-line error."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
            where = f" {err.filename}" if err.filename else ""
            fix = "free some space" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "make it writable"
            return DepthlabError(f"cannot write{where} ({err.strerror}); {fix} or choose another output directory")
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def original_message(message: str) -> str:
    """The user's one line inside a DataLoader worker's re-raised traceback (the message itself otherwise)."""
    found = re.findall(r"^(?:[\w.]+\.)?DepthlabError: (.*)$", str(message), flags=re.MULTILINE)
    return found[-1] if found else str(message)
