"""The training data order: a seeded permutation per epoch that a resumed fit continues mid-epoch.

The order is a pure function of (seed, epoch, rank, world size), so the position within an epoch is all a
checkpoint needs: the batches Lightning's loop had trained on when it saved (its restored batch index continues
from the same count). Counting batches *drawn* from the loader instead (torchdata's StatefulDataLoader state) skips
the batch in progress when an interrupt lands mid-step (Ctrl+C, SLURM's requeue handler saving hpc_ckpt_<n>), and
Lightning 2.6 drops that loader state on resume anyway once configure_optimizers reads
trainer.estimated_stepping_batches (Lightning issue #20550), as depthlab's step schedulers do.
"""

from __future__ import annotations

import os

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.data import Dataset
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler


def train_sampler(dataset: Dataset, trainer: pl.Trainer | None, shuffle: bool) -> StatefulDistributedSampler:
    """Each rank's share of the epoch's permutation, seeded like Lightning's own DistributedSampler."""
    replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
    # PL_GLOBAL_SEED is what seed_everything(cfg.seed) sets; 0 without a seed (the same order every run)
    seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
    return StatefulDistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed)


def order_state(trainer: pl.Trainer | None) -> dict[str, int]:
    """The epoch a checkpoint resumes in and the batches of it already trained on (after its last: the next, 0)."""
    if trainer is None or trainer.state.fn != TrainerFn.FITTING:
        return {}
    epochs = trainer.fit_loop.epoch_progress.current
    if epochs.completed == epochs.ready:  # between epochs (Lightning resumes with the next one)
        return {"epoch": epochs.completed, "batches": 0}
    done = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # what Lightning's batch index resumes at
    if done >= trainer.num_training_batches:
        return {"epoch": epochs.completed + 1, "batches": 0}
    return {"epoch": epochs.completed, "batches": done}


def restore_order(sampler: StatefulDistributedSampler, state: dict[str, int], batch_size: int) -> None:
    """Start the sampler at the saved position, before any loader iterator draws from it."""
    # set_epoch here too: worker processes draw indices as soon as Lightning creates the iterator, which it does
    # before its own set_epoch call on resume
    sampler.set_epoch(state["epoch"])
    sampler.load_state_dict({"yielded": state["batches"] * batch_size})
