"""Where the Hydra configs live: `depthlab/conf` inside the package, so a non-editable install finds them too."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def config_dir() -> Path:
    """The package's conf/ directory (in a checkout a symlink to the repo's conf/, in a wheel a copy of it)."""
    return Path(str(files("depthlab") / "conf")).absolute()


CONF_DIR = config_dir()
