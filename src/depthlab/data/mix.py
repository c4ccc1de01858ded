"""`data=mix`: several data configs trained as one weighted mixture, validated and tested source by source.

Each source names a config in conf/data/ plus overrides (`data.sources.<name>.<key>`; `data: <config>` reuses a
config under another name). Every source keeps its own reading, splits, depth range, eval crop, relative flag and
augmentation; only the network input size (`data.height`, `data.width`) and the loader settings are the mixture's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import ConcatDataset, DataLoader, Dataset, default_collate

from depthlab.config_dir import CONF_DIR
from depthlab.data.base import SPLITS, DepthDataModule
from depthlab.data.mixture import MixtureBatchSampler
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

# the data configs a mixture may compose (their _target_ is checked too: an override cannot point elsewhere)
SOURCE_TARGETS = {
    "synthetic": "depthlab.data.synthetic.SyntheticDataModule",
    "nyuv2": "depthlab.data.nyuv2.NYUv2DataModule",
    "diode": "depthlab.data.diode.DIODEDataModule",
    "kitti": "depthlab.data.kitti.KITTIDataModule",
    "redweb": "depthlab.data.redweb.ReDWebDataModule",
    "hrwsi": "depthlab.data.hrwsi.HRWSIDataModule",
    "modest": "depthlab.data.modest.MODESTDataModule",
    "folder": "depthlab.data.folder.FolderDataModule",
    "pano": "depthlab.data.pano.PanoDataModule",
    "real_indoor": "depthlab.data.manifest.ManifestDataModule",
}
MIXTURE_KEYS = ("height", "width", "batch_size", "eval_batch_size", "num_workers", "pin_memory", "gpu_aug")


def _augment_of(raw: DictConfig, default: Any) -> Any:
    """A source's own augment preset: the `override /augment...: NAME` of its defaults list, else the mixture's."""
    for entry in raw.get("defaults") or []:
        for key, value in entry.items() if isinstance(entry, Mapping) else ():
            if "augment" in str(key):
                return OmegaConf.load(CONF_DIR / "augment" / f"{value}.yaml")
    return default


def source_config(
    name: str, overrides: Mapping[str, Any] | None, data_dir: str, shared: dict[str, Any], augment: Any
) -> DictConfig:
    """conf/data/<config>.yaml with ${paths.data_dir} resolved, the mixture's shared keys and the overrides merged."""
    overrides = dict(overrides or {})
    config = str(overrides.pop("data", name))
    if config not in SOURCE_TARGETS:
        raise DepthlabError(
            f"data.sources.{name}: {config!r} is not a data config a mixture can use; use one of "
            f"{', '.join(SOURCE_TARGETS)} (or data.sources.{name}.data=<config>)"
        )
    raw = OmegaConf.load(CONF_DIR / "data" / f"{config}.yaml")
    node = {k: v for k, v in OmegaConf.to_container(raw, resolve=False).items() if k != "defaults"}
    merged = OmegaConf.merge({"paths": {"data_dir": data_dir}}, {"src": node}, {"src": shared}, {"src": overrides})
    if "augment" not in merged.src:
        merged.src.augment = _augment_of(raw, augment)
    source = OmegaConf.create(OmegaConf.to_container(merged, resolve=True)["src"])
    if source.get("_target_") != SOURCE_TARGETS[config]:
        raise DepthlabError(f"data.sources.{name}._target_={source.get('_target_')} is not allowed; remove it")
    return source


class MixDataModule(DepthDataModule):
    """Train on a weighted mixture of data configs; one val / test dataloader per source (val/<source>/<metric>)."""

    name = "mix"

    def __init__(
        self,
        sources: Mapping[str, Mapping[str, Any] | None],
        weights: Mapping[str, float] | None = None,
        mix_by: str = "batch",
        steps_per_epoch: int = 100,
        seed: int = 0,
        height: int = 192,
        width: int = 256,
        data_dir: str = "data",
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        gpu_aug: bool = False,
        augment: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers, pin_memory, gpu_aug=gpu_aug, **kwargs)
        check_choice("data.mix_by", mix_by, ("batch", "sample"))
        if not sources:
            raise DepthlabError("data.sources is empty; name at least one data config, e.g. data.sources='{nyuv2: {}}'")
        if steps_per_epoch < 1:
            raise DepthlabError(f"data.steps_per_epoch={steps_per_epoch} must be at least 1")
        self.weights = normalized_weights(list(sources), weights)
        shared = dict(zip(MIXTURE_KEYS, (height, width, batch_size, self.eval_batch_size, num_workers, pin_memory,
                                         gpu_aug), strict=True))  # fmt: skip
        augment = OmegaConf.create(dict(augment)) if augment is not None else None
        self.source_configs = {
            str(name): source_config(str(name), overrides, data_dir, shared, augment)
            for name, overrides in sources.items()
        }
        self.sources: dict[str, DepthDataModule] = {k: instantiate(v) for k, v in self.source_configs.items()}
        self.mix_by, self.steps_per_epoch, self.seed = mix_by, int(steps_per_epoch), int(seed)
        self.size = (int(height), int(width))
        self.relative = all(s.relative for s in self.sources.values())

    def input_size(self) -> tuple[int, int]:
        return self.size

    def eval_sources(self) -> dict[str, DepthDataModule]:
        """The val / test dataloaders in order, by source name: the module scores each with its own protocol."""
        return self.sources

    def dataset(self, split: str) -> Dataset:
        """Every source's split, concatenated in source order (train draws from it through the mixture sampler)."""
        check_choice("split", split, SPLITS)
        if split not in self.datasets:
            self.datasets[split] = ConcatDataset([source.dataset(split) for source in self.sources.values()])
        return self.datasets[split]

    def sampler(self) -> MixtureBatchSampler:
        """The epoch's batches: steps_per_epoch of data.batch_size, sources drawn by weight."""
        sizes = [len(source.dataset("train")) for source in self.sources.values()]
        weights = [self.weights[name] for name in self.sources]
        rank = self.trainer.global_rank if self.trainer is not None else 0
        seed = self.seed + 7919 * rank  # each DDP rank draws its own batches
        return MixtureBatchSampler(sizes, weights, self.batch_size, self.steps_per_epoch, self.mix_by, seed)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.dataset("train"),
            batch_sampler=self.sampler(),
            collate_fn=common_collate,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> list[DataLoader]:
        return [source.loader("val") for source in self.sources.values()]

    def test_dataloader(self) -> list[DataLoader]:
        return [source.loader("test") for source in self.sources.values()]

    def state_dict(self) -> dict[str, Any]:
        """Nothing: a mixture's epoch is a pure function of (seed, epoch); a resumed epoch redraws it."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        return None


def common_collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate the keys every sample has (a source without intrinsics or masks drops them from a mixed batch)."""
    keys = set.intersection(*(set(s) for s in samples))
    meta = set.intersection(*(set(s.get("meta") or {}) for s in samples))
    trimmed = [{k: ({m: s[k][m] for m in meta} if k == "meta" else s[k]) for k in keys} for s in samples]
    return default_collate(trimmed)


def normalized_weights(names: list[str], weights: Mapping[str, float] | None) -> dict[str, float]:
    """Weights summing to 1 (equal when none are given); unknown, missing or non-positive ones are refused."""
    if not weights:
        return {name: 1.0 / len(names) for name in names}
    weights = {str(k): v for k, v in weights.items()}
    for key, value in weights.items():
        if key not in names:
            raise DepthlabError(f"data.weights.{key}: no such source; the sources are {', '.join(names)}")
        if not (isinstance(value, int | float) and 0 < value < float("inf")):
            raise DepthlabError(f"data.weights.{key}={value} must be a positive number; drop the source instead")
    missing = [name for name in names if name not in weights]
    if missing:
        raise DepthlabError(f"data.weights has no weight for source(s) {', '.join(missing)}; add data.weights.<name>")
    total = sum(weights.values())
    return {name: weights[name] / total for name in names}
