"""Cross-validated grid search over regressor families, folds grouped by image (no image on both sides of a fold)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from depthlab.baselines.features import PixelSample
from depthlab.utils.errors import DepthlabError

Candidates = dict[str, tuple[Any, dict[str, list[Any]]]]
SCORING = "neg_mean_squared_error"  # of log depth: the squared scale-dependent log error


def candidates(regressors: DictConfig) -> Candidates:
    """{name: (estimator, param grid)} from the `regressor=` group (each entry: `estimator` + `grid`)."""
    out: Candidates = {}
    for name, node in regressors.items():
        grid = OmegaConf.to_container(node.get("grid") or {}, resolve=True)
        out[str(name)] = (instantiate(node.estimator), {k: list(v) for k, v in grid.items()})
    if not out:
        raise DepthlabError("regressor= selects no estimator; use regressor=rf, gbr, knn or all")
    return out


def grid_search(found: Candidates, sample: PixelSample, cv: int, n_jobs: int = 1) -> GridSearchCV:
    """GridSearchCV over every candidate's grid at once (a Pipeline whose `model` step is searched too).

    Folds are GroupKFold by image; the best setting is refitted on all sampled pixels.
    """
    images = len(np.unique(sample.groups))
    if cv < 2 or cv > images:
        raise DepthlabError(f"cv={cv} folds need 2 <= cv <= the {images} images of the slice; raise slice or lower cv")
    grid = [{"model": [est], **{f"model__{k}": v for k, v in params.items()}} for est, params in found.values()]
    first = next(iter(found.values()))[0]
    search = GridSearchCV(Pipeline([("model", first)]), grid, scoring=SCORING, cv=GroupKFold(cv), n_jobs=n_jobs)
    return search.fit(sample.x, sample.y, groups=sample.groups)


def search_summary(search: GridSearchCV, names: Candidates) -> dict[str, Any]:
    """Best setting and CV log-MSE overall and per family (what search.json records)."""
    results = search.cv_results_
    family = {type(est).__name__: name for name, (est, _) in names.items()}
    rows: dict[str, dict[str, Any]] = {}
    for i, params in enumerate(results["params"]):
        name = family[type(params["model"]).__name__]
        mse = -float(results["mean_test_score"][i])
        if name not in rows or mse < rows[name]["cv_log_mse"]:
            settings = {k.removeprefix("model__"): v for k, v in params.items() if k != "model"}
            rows[name] = {"cv_log_mse": mse, "params": settings}
    best = family[type(search.best_params_["model"]).__name__]
    return {"best": best, "best_params": rows[best]["params"], "families": rows, "fits": len(results["params"])}
