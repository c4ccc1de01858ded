"""Decode every file of every split and list the bad ones (`depthlab-check-data`, `train.py debug=check_data`).

Takes the train config (every data config and `data.*` override works), reads each raw sample of train / val /
test (RGB, depth, valid and mask files; no transforms), prints one line per bad file and a summary, and raises a
one-line DepthlabError (exit 2 from the entry points) when any file is bad.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from depthlab.data.base import SPLITS
from depthlab.data.files import FileDataModule, Record
from depthlab.data.io import read_depth_array
from depthlab.utils.errors import DepthlabError, fail, original_message, user_error


def record_files(record: Record) -> list[Path]:
    """The files one record reads."""
    return [p for p in (record.rgb, record.depth, record.valid, record.mask, record.background) if p is not None]


def file_problem(path: Path) -> str | None:
    """Why an existing file does not decode, or None (a missing file is the sample loader's to judge)."""
    if not path.exists():
        return None
    try:
        read_depth_array(path)
    except DepthlabError as err:
        return str(err)
    return None


class FileCheck(Dataset):
    """Per record, the one-line problems of its files ([] when it loads); errors stay inside the worker."""

    def __init__(self, datamodule: FileDataModule, records: list[Record]) -> None:
        self.datamodule, self.records = datamodule, records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> list[str]:
        record = self.records[index]
        try:
            self.datamodule.load(record)
        except DepthlabError as err:
            files = record_files(record) if record.index < 0 else []  # an indexed record lives inside one file
            problems = [p for p in map(file_problem, files) if p]
            return problems if str(err) in problems else [str(err), *problems]
        return []


def check_files(datamodule: FileDataModule) -> tuple[int, list[str]]:
    """(files checked, one line per bad file) over every split, each sample read once, in data.num_workers."""
    splits = datamodule.splits()
    records = list({(r.rgb, r.index): r for split in SPLITS for r in splits[split]}.values())
    loader = DataLoader(FileCheck(datamodule, records), batch_size=None, num_workers=datamodule.num_workers)
    bad = [line for problems in loader for line in problems]
    return len({path for record in records for path in record_files(record)}), bad


def check_data(cfg: DictConfig) -> None:
    """Print each bad file of `cfg.data` on stdout, then the summary (raised as the error when any is bad)."""
    datamodule = instantiate(cfg.data)
    if not isinstance(datamodule, FileDataModule):
        print(f"data={datamodule.name} has no files to check: its samples are generated")
        return
    files, bad = check_files(datamodule)
    for line in bad:
        print(line, flush=True)
    summary = f"{files} files checked in {'/'.join(SPLITS)}, {len(bad)} bad"
    if bad:
        raise DepthlabError(f"{summary} (listed above); re-extract or remove them, or drop them from the split lists")
    print(summary)


class CheckDataCallback(Callback):
    """debug=check_data: the check runs before the job, so a bad file stops it before any training."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_data(config)
        except Exception as err:  # outside the task, so app.run's one-line handling does not apply
            cause = user_error(err)
            if cause is None:
                raise
            fail(original_message(str(cause)))


if __name__ == "__main__":  # the old command must not pass silently: a script relying on its exit code would
    fail("python -m depthlab.data.check moved: run depthlab-check-data with the same arguments")
