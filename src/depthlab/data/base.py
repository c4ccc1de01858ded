"""The DataModule base class and the sample contract every dataset follows.

A sample (and, after collation, a batch with a leading B axis) is a dict:

| key          | type / shape                      | meaning                                                  |
|--------------|-----------------------------------|----------------------------------------------------------|
| `image`      | float32 [3, H, W], normalised      | network input: (rgb - mean) / std                        |
| `depth`      | float32 [1, H, W], metres          | ground truth; 0 where invalid                            |
| `valid`      | bool [1, H, W]                     | finite and within (min_depth, max_depth)                 |
| `mask`       | float32 [1, H, W] in {0, 1}        | optional: foreground-object mask                         |
| `background` | float32 [3, H, W], normalised      | optional: the scene without its foreground objects       |
| `intrinsics` | float32 [3, 3]                     | optional: pinhole K for this H, W (never for equirect)   |
| `meta`       | dict                               | `dataset`, `split`, `index`, `path`, `relative` (bool),  |
|              |                                    | `camera`: "pinhole" (default) or "equirect" (2:1 360 deg) |
|              |                                    | `sparse` (bool): LiDAR / SfM-like target (data/sparse.py) |

Equirect depth is the Euclidean range along the pixel's ray (pinhole depth is z-depth): src/depthlab/ops/camera.py.

Datasets return raw samples (`image`/`background` in [0, 1], `depth` possibly with inf/NaN); the base class
turns them into contract samples: invalid depth is masked and zeroed, images are normalised, the split's
transform runs in between. Subclasses only implement `build_dataset(split)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import DataLoader, Dataset

from depthlab.data.augment_table import Augment, check_augment
from depthlab.data.order import order_state, restore_order, train_sampler
from depthlab.data.pixels import denormalize, normalize, to_chw
from depthlab.data.sparse import check_sparse_mode, is_sparse
from depthlab.data.transforms import build_transform
from depthlab.metrics.crops import CROPS
from depthlab.ops.camera import check_camera
from depthlab.utils.choices import check_choice
from depthlab.utils.errors import DepthlabError

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]
SPLITS = ("train", "val", "test")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def finalize_sample(
    raw: Sample,
    min_depth: float,
    max_depth: float,
    mean: torch.Tensor,
    std: torch.Tensor,
    camera: str = "pinhole",
    sparse: bool | str = False,
    sparse_threshold: float = 0.3,
) -> Sample:
    """Turn a raw sample into the contract: masked metres, bool valid, normalised images, float32, meta camera.

    meta["sparse"] is the transform's decision (made before resizing), else data.sparse applied here.
    """
    sample = dict(raw)
    meta = dict(raw.get("meta") or {})
    meta["camera"] = check_camera(meta.get("camera", camera), "meta['camera']")
    sample["meta"] = meta
    depth = torch.as_tensor(np.asarray(raw["depth"]), dtype=torch.float32).reshape(1, *np.shape(raw["depth"])[-2:])
    valid = torch.isfinite(depth) & (depth > min_depth) & (depth < max_depth)
    if "valid" in raw:
        valid &= torch.as_tensor(np.asarray(raw["valid"])).reshape(valid.shape).bool()
    sample["depth"] = torch.where(valid, depth, torch.zeros_like(depth))
    sample["valid"] = valid
    if "sparse" not in meta:  # no transform ran (native size, no augmentation)
        meta["sparse"] = is_sparse(valid.numpy(), sparse, sparse_threshold)
    for key in ("image", "background"):
        if key in raw:
            sample[key] = normalize(to_chw(raw[key]), mean, std)
    if "mask" in raw:
        sample["mask"] = torch.as_tensor(np.asarray(raw["mask"]), dtype=torch.float32).reshape(valid.shape)
    if meta["camera"] == "equirect":
        sample.pop("intrinsics", None)  # a pinhole K means nothing for a panorama
    elif "intrinsics" in raw:
        sample["intrinsics"] = torch.as_tensor(np.asarray(raw["intrinsics"]), dtype=torch.float32)
    return sample


class ContractDataset(Dataset):
    """Wrap a raw dataset: apply the split's transform, then enforce the sample contract."""

    def __init__(self, raw: Dataset, transform: Transform | None, finalize: Callable[[Sample], Sample]) -> None:
        self.raw, self.transform, self.finalize = raw, transform, finalize

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: int) -> Sample:
        sample = self.raw[index]
        if self.transform is not None:
            sample = self.transform(sample)
        return self.finalize(sample)


class DepthDataModule(pl.LightningDataModule):
    """Splits, loaders and the sample contract shared by every dataset; subclasses say how to read a split."""

    name = "depth"
    relative = False

    def __init__(
        self,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        augment: Mapping[str, Any] | None = None,
        gpu_aug: bool = False,
        relative: bool | None = None,
        eval_crop: str | None = None,
        camera: str = "pinhole",
        sparse: bool | str = False,
        sparse_threshold: float = 0.3,
    ) -> None:
        super().__init__()
        if num_workers < 0:
            raise DepthlabError(f"data.num_workers={num_workers} is negative; use 0 (load in the main process) or more")
        if batch_size < 1:
            raise DepthlabError(f"data.batch_size={batch_size} must be at least 1")
        if not 0 <= min_depth < max_depth:
            raise DepthlabError(f"data.min_depth={min_depth} / data.max_depth={max_depth}: need 0 <= min < max")
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.datasets: dict[str, Dataset] = {}
        self.augment = Augment.from_mapping(augment)  # train-split preset (conf/augment/*.yaml)
        # pinhole or equirect (ops/camera.py): every sample's meta["camera"]; FileDataModule.camera() is its K
        self.camera_model = check_camera(camera)
        check_augment(self.augment, self.camera_model)
        # sparse targets (true / false / auto: valid fraction < sparse_threshold): point-preserving resize, meta
        self.sparse, self.sparse_threshold = check_sparse_mode(sparse, sparse_threshold), float(sparse_threshold)
        if gpu_aug and self.sparse is not False and (self.augment.scale is not None or self.augment.rotate > 0):
            raise DepthlabError(
                f"data.gpu_aug=true resamples depth on the device without keeping sparse points (data.sparse="
                f"{sparse}); use data.gpu_aug=false or augment without scale / rotate"
            )
        self.gpu_aug = gpu_aug  # run the preset batch-wise on the accelerator (kornia) instead of in the workers
        self.relative = type(self).relative if relative is None else bool(relative)  # seam for relative losses
        check_choice("data.eval_crop", eval_crop, CROPS, none=True)
        self.eval_crop = eval_crop  # named crop for metrics/crops.py
        self._batch_augment: Callable[[dict], dict] | None = None
        self._resume_order: dict[str, int] = {}  # a checkpoint's position in the train order, until used

    def build_dataset(self, split: str) -> Dataset:
        """Return the raw dataset of one split (samples with `image` in [0, 1] and `depth` in metres)."""
        raise NotImplementedError

    def input_size(self) -> tuple[int, int] | None:
        """(H, W) every sample is resized to, or None when samples come at their final size."""
        return None

    def transform(self, split: str) -> Transform | None:
        """Resize on every split; the augment preset on train unless it runs batch-wise on the accelerator."""
        augment = self.augment if split == "train" and not self.gpu_aug else None
        return build_transform(self.input_size(), augment, self.sparse, self.sparse_threshold)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """With data.gpu_aug=true, augment training batches on the device with kornia."""
        trainer = getattr(self, "trainer", None)
        if not self.gpu_aug or trainer is None or not trainer.training:
            return batch
        if self._batch_augment is None:
            from depthlab.data.gpu_augment import BatchAugment

            self._batch_augment = BatchAugment(self.augment, self.mean, self.std)
        return self._batch_augment(batch)

    def finalize(self, raw: Sample) -> Sample:
        """Apply the sample contract with this datamodule's depth range, normalisation and sparse mode."""
        depth_range, sparse = (self.min_depth, self.max_depth), (self.sparse, self.sparse_threshold)
        return finalize_sample(raw, *depth_range, self.mean, self.std, self.camera_model, *sparse)

    def dataset(self, split: str) -> Dataset:
        """The contract dataset of a split, built once."""
        check_choice("split", split, SPLITS)
        if split not in self.datasets:
            raw = self.build_dataset(split)
            if len(raw) == 0:
                raise DepthlabError(f"the {split} split of data={self.name} is empty; check its root and split files")
            self.datasets[split] = ContractDataset(raw, self.transform(split), self.finalize)
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        """Build the splits a stage needs."""
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        for split in needed.get(stage or "", SPLITS):
            self.dataset(split)

    def loader(self, split: str, shuffle: bool | None = None) -> DataLoader:
        """A DataLoader over one split with this module's batch size and workers."""
        train = split == "train"
        dataset = self.dataset(split)
        if train:
            return self._train_loader(dataset, shuffle=True if shuffle is None else shuffle)
        sampler = self._eval_sampler(dataset)
        return DataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            shuffle=bool(shuffle) if sampler is None else None,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _train_loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        """Seeded per-epoch order (data/order.py), started where a resumed checkpoint left its epoch."""
        sampler = train_sampler(dataset, self.trainer, shuffle)
        if len(sampler) < self.batch_size:  # drop_last would silently leave an epoch without a single step
            raise DepthlabError(
                f"the train split of data={self.name} has {len(sampler)} samples per process, fewer than "
                f"data.batch_size={self.batch_size}; lower data.batch_size or add data"
            )
        if self._resume_order:
            restore_order(sampler, self._resume_order, self.batch_size)
            self._resume_order = {}
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _eval_sampler(self, dataset: Dataset) -> UnrepeatedDistributedSampler | None:
        """Under DDP, split val/test across ranks without padding (Lightning's sampler repeats samples to even out)."""
        trainer = self.trainer
        if trainer is None or trainer.world_size <= 1:
            return None
        return UnrepeatedDistributedSampler(
            dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train")

    def state_dict(self) -> dict[str, Any]:
        """Where the fit is in its epoch's data order, so a resumed fit continues it."""
        return {"train_order": order_state(self.trainer)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Held for the next train loader: Lightning restores the datamodule before it asks for one."""
        if self.trainer is None or self.trainer.state.fn == TrainerFn.FITTING:  # not validate(ckpt_path=...)
            self._resume_order = dict(state_dict.get("train_order") or {})

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")

    def sample_shape(self) -> tuple[int, int]:
        """(H, W) of the network input, read from the first training sample."""
        return tuple(self.dataset("train")[0]["image"].shape[-2:])

    def denormalize(self, image: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation of a [B, 3, H, W] batch for display."""
        return denormalize(image, self.mean.to(image), self.std.to(image)).clamp(0, 1)
