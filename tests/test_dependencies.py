"""Every package src/ imports is a declared dependency, and environment.yaml pins exactly what pyproject.toml pins."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml
from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# the optional extras, and what the Makefile installs --no-deps on top of them (litert-torch, litert-converter)
NO_DEPS = re.search(r"^LITERT := (.+)$", (REPO / "Makefile").read_text(), flags=re.MULTILINE).group(1).split()
OPTIONAL = [r for extra in PYPROJECT["optional-dependencies"].values() for r in extra] + NO_DEPS


def normalized(name: str) -> str:
    """PEP 503 form of a distribution name (PyYAML == pyyaml, segmentation_models_pytorch == ...-pytorch)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pin(requirement: str) -> tuple[str, str]:
    """`Name==1.0` -> (normalized name, "==1.0")."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group()
    return normalized(name), requirement[len(name) :].replace(" ", "")


def imported_modules(root: Path) -> dict[str, Path]:
    """Top-level third-party modules imported anywhere under `root`, with one file importing each."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in (name.split(".")[0] for name in names):
                if top not in sys.stdlib_module_names and top not in ("__future__", "depthlab"):
                    found.setdefault(top, path)
    return found


def test_every_imported_package_is_declared() -> None:
    declared = {pin(r)[0] for r in PYPROJECT["dependencies"] + OPTIONAL}
    distributions = packages_distributions()
    imported = imported_modules(REPO / "src" / "depthlab")
    assert {"torch", "cv2", "yaml"} <= set(imported)  # the walk sees imports at all
    missing = {
        f"{module} ({path.relative_to(REPO)})": distributions.get(module)
        for module, path in imported.items()
        if not {normalized(d) for d in distributions.get(module, [module])} & declared
    }
    assert not missing, f"imported but not in pyproject.toml dependencies / extras: {missing}"


def test_optional_extras_are_imported_lazily() -> None:
    """Without the tflite extra depthlab still imports: its packages load only inside the functions that use them."""
    optional = {pin(r)[0] for r in OPTIONAL} - {pin(r)[0] for r in PYPROJECT["dependencies"]}
    distributions = packages_distributions()
    for path in sorted((REPO / "src" / "depthlab").rglob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:  # module level only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for top in (name.split(".")[0] for name in names):
                dists = {normalized(d) for d in distributions.get(top, [top])}
                assert not dists & optional, f"{path.relative_to(REPO)} imports {top} (optional) at module level"


def test_environment_yaml_mirrors_the_pyproject_pins() -> None:
    environment = yaml.safe_load((REPO / "environment.yaml").read_text())
    pip = next(entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict))
    pinned = {pin(r) for r in pip if not r.startswith("-")}
    declared = PYPROJECT["dependencies"] + [r for extra in PYPROJECT["optional-dependencies"].values() for r in extra]
    assert pinned == {pin(r) for r in declared}
