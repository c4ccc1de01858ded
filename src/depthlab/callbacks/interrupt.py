"""Save `last.ckpt` when fitting is interrupted (Ctrl+C, SIGTERM, an exception) so `ckpt_path=last` resumes it."""

from __future__ import annotations

import signal
import warnings

import lightning.pytorch as pl
from lightning.pytorch.callbacks import OnExceptionCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

# SIGTERM's conventional exit status: schedulers (SLURM, Kubernetes) and shells read it as "terminated".
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM

# With an OnExceptionCheckpoint, Lightning turns fit(ckpt_path=None) into "resume from last.ckpt if any" and warns
# on every fresh run; depthlab decides that itself (cli/resume.py refuses a run directory holding a last.ckpt
# unless ckpt_path=last, or a SLURM requeue, says to resume), so the two warnings are noise.
warnings.filterwarnings("ignore", message=r"`\.fit\(ckpt_path=None\)` was called without a model")
warnings.filterwarnings("ignore", message=r'\.fit\(ckpt_path="last"\) is set, but there is no last checkpoint')


class InterruptCheckpoint(OnExceptionCheckpoint):
    """Lightning's OnExceptionCheckpoint for an interrupted fit only, and kept after a clean one (it is last.ckpt).

    Lightning raises KeyboardInterrupt on Ctrl+C, and SIGTERMException at the end of the batch under way after a
    SIGTERM, then calls `on_exception`. Nothing is saved before training started (a failed restore must not
    overwrite the checkpoint it was restoring) or in validate / test (the best weights are loaded then).
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        super().__init__(dirpath, filename)
        self._training = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """From here on the weights and loops hold a state worth resuming (after any checkpoint restore)."""
        self._training = True

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Save the fit's state, and make a SIGTERM visible in the exit status."""
        if isinstance(exception, SIGTERMException) and not exception.code:
            exception.code = SIGTERM_EXIT_CODE
        if self._training and trainer.state.fn == TrainerFn.FITTING:
            super().on_exception(trainer)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Keep the file: after a clean fit it is ModelCheckpoint's last.ckpt."""
        self._training = False
