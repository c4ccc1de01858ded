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
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

from depthlab.cli.keys import check_trainer_args, unknown_key
from depthlab.cli.rundir import claim, is_leader, resuming
from depthlab.config_dir import CONF_DIR
from depthlab.utils.errors import DepthlabError, disk_error, fail, one_line, original_message, user_error

log = logging.getLogger(__name__)


def _is_multirun(argv: list[str]) -> bool:
    """-m, or a config that sets hydra.mode=MULTIRUN (hparams_search=...)."""
    return any(a in ("-m", "--multirun") or a.startswith(("hydra.mode=MULTIRUN", "hparams_search=")) for a in argv)


def _overrides(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-") and "=" in a]


def check_overrides(config_name: str, argv: list[str]) -> DictConfig | None:
    """Compose once before Hydra runs, so an unknown key, group value or wrong-typed value gives one clear line.

    Returns the composed config (with its `hydra` node) of a single run, None for multiruns and help.
    """
    if _is_multirun(argv) or any(a.startswith(("--cfg", "-c", "--help", "-h", "--info")) for a in argv):
        return None
    overrides = _overrides(argv)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            parsed = OverridesParser.create().parse_overrides(overrides)
            plain = [o for o in parsed if _is_plain_value(o)]
            groups_only = [o.input_line for o in parsed if not any(o.input_line == p.input_line for p in plain)]
            try:
                composed = compose(config_name, overrides=overrides, return_hydra_config=True)
            except Exception:  # Hydra's "Could not override": say which key was meant
                explained = unknown_key(compose(config_name, overrides=groups_only), plain)
                if explained is None:
                    raise
                raise explained from None
            check_trainer_args(composed)
            if plain:
                check_types(compose(config_name, overrides=groups_only), plain)
    except DepthlabError as err:
        fail(str(err))
    except Exception as err:  # Hydra's ConfigCompositionException, OmegaConf errors, parser errors
        fail(f"bad override: {err}. Run with --help to list config groups and options")
    finally:
        GlobalHydra.instance().clear()
    return composed


def _is_plain_value(override: Override) -> bool:
    """`key=value` on an existing key (not a config group, not hydra's own, not a sweep, add or delete)."""
    key = override.key_or_group
    return (
        override.type == OverrideType.CHANGE
        and override.value_type == ValueType.ELEMENT
        and not key.startswith("hydra")
        and "/" not in key
        and not (CONF_DIR / key).is_dir()
    )


TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", list: "a list [a,b]", dict: "a mapping"}


def _kind(value: Any) -> type:
    """The override-relevant type of a config value (OmegaConf containers as list / dict)."""
    if isinstance(value, DictConfig | dict):
        return dict
    return list if isinstance(value, ListConfig | list) else type(value)


def check_types(base: DictConfig, overrides: list[Override]) -> None:
    """A value whose type differs from the default's (trainer.max_epochs=abc) fails here, not deep in a library."""
    for override in overrides:
        try:
            default = OmegaConf.select(base, override.key_or_group)
        except Exception:  # an interpolation only Hydra's runtime resolves: nothing to compare against
            continue
        value, expected = override.value(), _kind(default)
        if default is None or value is None or expected not in TYPE_NAMES:
            continue  # null and string defaults take anything
        got = _kind(value)
        if got is not expected and not (expected is float and got is int):
            raise DepthlabError(
                f"{override.input_line}: {override.key_or_group} takes {TYPE_NAMES[expected]} "
                f"(default {default}), not {value!r}"
            )


def run(
    config_name: str,
    task: Callable[[DictConfig], Any],
    results: tuple[str, ...] = (),
    resume_key: str = "",
    lock: bool = True,
) -> Any:
    """Run `task` under @hydra.main; a DepthlabError becomes one line and exit code 2 (single runs).

    `results` are the files that mark a run directory as used (refused unless `resume_key` is set in the config);
    the directory is claimed and locked before Hydra writes into it (lock=False: a task that writes no run dir).
    """
    composed = check_overrides(config_name, sys.argv[1:])
    if lock and composed is not None and is_leader():
        run_dir = Path(composed.hydra.run.dir).absolute()
        _claim(run_dir, results, resume_key, resuming(resume_key, composed))
        sys.argv = [a for a in sys.argv if not a.startswith("hydra.run.dir=")] + [f"hydra.run.dir={run_dir}"]

    @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
    def _main(cfg: DictConfig) -> Any:
        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
        try:
            if lock and multirun and is_leader():
                claim(cfg.paths.output_dir, results, resume_key, resuming(resume_key, cfg), key="hydra.sweep.dir job")
            return task(cfg)
        except Exception as err:
            cause = user_error(err)
            if multirun:
                # a sweep goes on: Hydra records the job as failed (an Optuna trial is scored FAIL)
                log.error(f"job {HydraConfig.get().job.get('num')} failed ({one_line(str(err))}); the sweep goes on")
                raise
            if cause is None:
                cause = disk_error(err)
            if cause is None:
                raise
            fail(original_message(str(cause)), getattr(cause, "exit_code", 2))

    return _main()


def _claim(run_dir: Path, results: tuple[str, ...], resume_key: str, resuming: bool) -> None:
    """claim() before Hydra runs: its errors are printed here, since no task wrapper exists yet."""
    try:
        claim(run_dir, results, resume_key, resuming)
    except DepthlabError as err:
        fail(str(err))
