"""Lightning's CSVLogger, safe when fit / validate / test run in fresh processes (ddp_spawn)."""

from __future__ import annotations

import csv

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class DiskHeaderWriter(ExperimentWriter):
    """Adopts the columns metrics.csv already has before writing, instead of trusting its own memory of them.

    Under ddp_spawn every trainer.fit / validate / test runs in new processes, each on a copy of the writer the
    main process made (train.py logs the hyperparameters first); the fit's columns never come back, so the
    validate's copy rewrote the file with only its own columns: `ValueError: dict contains fields not in fieldnames`.
    """

    def save(self) -> None:
        """Merge the file's header into the known columns (rewriting the file if this copy knew more), then save."""
        if self.metrics and self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                on_disk = next(csv.reader(file), [])
            keys = sorted(set(on_disk) | set(self.metrics_keys))
            if keys != on_disk:
                self._rewrite_with_new_header(keys)
            self.metrics_keys = keys
        super().save()


class CSVLogger(LightningCSVLogger):
    """CSVLogger whose writer reads the columns on disk (see DiskHeaderWriter)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The writer, created on first use like Lightning's (which deletes a metrics.csv already there)."""
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = DiskHeaderWriter(log_dir=self.log_dir)
        return self._experiment
