"""`pip install .` (not editable) ships the configs: the console scripts train and evaluate from any directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, TINY, cli_env

pytestmark = pytest.mark.slow
SOURCES = ("pyproject.toml", "README.md", "src", "conf", "experiments")
# PYTHONPATH=src would let the sources (and their egg-info: "already installed") stand in for the installed wheel
NO_SOURCES = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of a clean copy of the checkout (so the build writes nothing into the repo)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
            shutil.copytree(path, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source], check=True)
    return next((tmp_path / "dist").glob("depthlab-*.whl"))


def install(wheel: Path, root: Path) -> Path:
    """A fresh venv with only the wheel installed; its dependencies come from this interpreter's site-packages.

    The .pth is written after the install, so pip never sees (or touches) the running environment's depthlab;
    a .pth line adds a directory but does not run the .pth files inside it (no editable depthlab leaks in).
    """
    venv.create(root, with_pip=False, symlinks=True)
    python = root / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "--python", python]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", wheel], check=True, env=NO_SOURCES)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=NO_SOURCES,
    ).stdout.strip()
    ours = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (Path(site) / "dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(ours)))
    return root / "bin"


def run(bin_dir: Path, *args: str, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """A command of the venv, outside the checkout, with no PYTHONPATH pointing at the sources."""
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "PYTHONPATH"}
    command = [str(bin_dir / args[0]), *args[1:]]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel for the module: building it is the slow, shared part."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_holds_every_config_including_the_experiments(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"depthlab/conf/{p.relative_to(REPO / 'conf')}" for p in (REPO / "conf").rglob("*.yaml")}
    experiments = {f"depthlab/conf/experiment/{p.name}" for p in (REPO / "experiments").glob("*.yaml")}
    assert experiments and experiments <= names
    assert configs and configs <= names


def test_installed_console_scripts_train_and_evaluate_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    bin_dir = install(wheel, tmp_path / "venv")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    where = run(
        bin_dir,
        "python",
        "-c",
        "import depthlab.config_dir as c; print(c.__file__, c.CONF_DIR)",
        cwd=cwd,
        tmp_path=tmp_path,
    )
    module, conf = map(Path, where.stdout.split())
    assert module.is_relative_to(tmp_path / "venv") and conf.is_relative_to(tmp_path / "venv"), where.stdout

    train_dir, eval_dir = cwd / "train", cwd / "eval"
    overrides = [*TINY, "experiment=synthetic_unet", "logger=csv", f"hydra.run.dir={train_dir}"]
    trained = run(bin_dir, "depthlab-train", *overrides, cwd=cwd, tmp_path=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (train_dir / "metrics.json").is_file() and (train_dir / "checkpoints" / "last.ckpt").is_file()
    assert "task_name: synthetic_unet" in (train_dir / ".hydra" / "config.yaml").read_text()  # the experiment

    ckpt = f"ckpt_path={train_dir / 'checkpoints' / 'last.ckpt'}"
    scored = run(bin_dir, "depthlab-eval", ckpt, f"hydra.run.dir={eval_dir}", cwd=cwd, tmp_path=tmp_path)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert (eval_dir / "metrics.json").is_file()
