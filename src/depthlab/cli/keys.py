"""Unknown config keys as one line naming the key and its fix (Hydra's own advice, `+key=`, crashes for trainer.*)."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator

from hydra.core.override_parser.types import Override
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from depthlab.utils.errors import DepthlabError


def _keys(node: object, prefix: str = "") -> Iterator[str]:
    """Dotted names of every key under a plain container (interpolations are not resolved)."""
    if isinstance(node, dict):
        for key, value in node.items():
            name = f"{prefix}{key}"
            yield name
            yield from _keys(value, f"{name}.")


def _exists(base: DictConfig, key: str) -> bool:
    """The dotted key is in the config (whatever its value, ??? and interpolations included)."""
    node: object = OmegaConf.to_container(base, resolve=False)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return not isinstance(node, dict) and node is not None  # a list index or a value: not ours to judge
        node = node[part]
    return True


def target_args(node: DictConfig) -> set[str] | None:
    """The keyword arguments of a node's `_target_` class or function (None: it takes **kwargs, or is unknown)."""
    try:
        target = get_class(node._target_) if isinstance(node.get("_target_"), str) else None
        params = inspect.signature(target).parameters.values() if target else ()
    except Exception:  # noqa: BLE001 - not importable here: instantiate reports it
        return None
    if not params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.name != "self"}


def _nearest(key: str, known: set[str]) -> str | None:
    """The closest known key, or the few that tie with it (limit_batches: limit_val_batches or limit_test_batches)."""
    scores = {name: difflib.SequenceMatcher(None, key, name).ratio() for name in sorted(known)}
    best = max(scores.values(), default=0.0)
    found = [name for name, score in scores.items() if score >= max(0.6, best - 0.02)]
    return " or ".join(found[:3]) if found else None


def unknown_key(base: DictConfig, overrides: list[Override]) -> DepthlabError | None:
    """The first `key=value` whose key is not in the config (composed with the same group choices), explained."""
    for override in overrides:
        key, line = override.key_or_group, override.input_line
        if _exists(base, key):
            continue
        section, _, arg = key.partition(".")
        args = target_args(base.trainer) if section == "trainer" and "trainer" in base else None
        if args is not None and arg in args:
            return DepthlabError(f"bad override {line}: {key} is a Trainer argument not in conf/trainer; use +{line}")
        known = set(_keys(OmegaConf.to_container(base, resolve=False))) | {f"trainer.{a}" for a in args or ()}
        match = _nearest(key, known)
        if match:
            return DepthlabError(f"bad override {line}: there is no key {key}; did you mean {match}?")
        if args is not None:
            return DepthlabError(f"bad override {line}: {key} is not an argument of lightning.pytorch.Trainer")
        return DepthlabError(f"bad override {line}: there is no key {key}; to add a new key use +{line}")
    return None


def check_trainer_args(cfg: DictConfig) -> None:
    """Every trainer.* key must be an argument of the Trainer (+trainer.max_epochz=3 otherwise fails at instantiate)."""
    node = cfg.get("trainer")
    args = target_args(node) if isinstance(node, DictConfig) else None
    if args is None:
        return
    for key in node:
        if not str(key).startswith("_") and key not in args:
            match = _nearest(str(key), args)
            fix = f"did you mean trainer.{match}?" if match else "remove it"
            raise DepthlabError(f"trainer.{key} is not an argument of {node._target_}; {fix}")
