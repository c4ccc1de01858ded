"""Entry-point plumbing: Hydra main with one-line errors for bad overrides and bad input."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from depthlab.utils.errors import DepthlabError, one_line, original_message

log = logging.getLogger(__name__)
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def fail(message: str, code: int = 2) -> None:
    """Print one line naming the problem and its fix to stderr, then exit non-zero."""
    print(f"depthlab: error: {one_line(message)}", file=sys.stderr)
    sys.exit(code)


def _is_multirun(argv: list[str]) -> bool:
    """-m, or a config that sets hydra.mode=MULTIRUN (hparams_search=...)."""
    return any(a in ("-m", "--multirun") or a.startswith(("hydra.mode=MULTIRUN", "hparams_search=")) for a in argv)


def _overrides(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-") and "=" in a]


def check_overrides(config_name: str, argv: list[str]) -> None:
    """Compose once before Hydra runs, so an unknown key or group value gives one clear line."""
    if _is_multirun(argv) or any(a.startswith(("--cfg", "-c", "--help", "-h", "--info")) for a in argv):
        return
    overrides = [o for o in _overrides(argv) if not o.startswith(("hydra.", "hydra/", "+hydra", "~hydra"))]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            compose(config_name, overrides=overrides)
    except Exception as err:  # Hydra's ConfigCompositionException, OmegaConf errors, parser errors
        fail(f"bad override: {err}. Run with --help to list config groups and options")
    finally:
        GlobalHydra.instance().clear()


def user_error(err: BaseException | None) -> DepthlabError | None:
    """The DepthlabError behind an exception (Hydra wraps errors raised while instantiating)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, DepthlabError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def run(config_name: str, task: Callable[[DictConfig], Any]) -> Any:
    """Run `task` under @hydra.main; a DepthlabError becomes one line and exit code 2 (single runs)."""
    check_overrides(config_name, sys.argv[1:])

    @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
    def _main(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except Exception as err:
            cause = user_error(err)
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                # a sweep goes on: Hydra records the job as failed (an Optuna trial is scored FAIL)
                log.error(f"job {HydraConfig.get().job.get('num')} failed ({one_line(str(err))}); the sweep goes on")
                raise
            if cause is None:
                raise
            fail(original_message(str(cause)))

    return _main()
