"""The package's layering, read from its imports: ground knows no stage, artifacts know only
ground, a stage never imports another stage, and only the pipeline imports stages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stylaug"
GROUND = ("core", "data", "models")
STAGES = (
    "prepare_data",
    "train_stylizer",
    "train_decoder",
    "augment",
    "classify",
    "report",
    "stylize",
)
# what each part of the package may import, besides itself
ALLOWED = {
    "core": (),
    "data": ("core",),
    "models": ("core", "data"),
    "transforms": GROUND,  # the public on-the-fly API: a library over ground, used by stages
    "artifacts": GROUND,
    **{stage: (*GROUND, "transforms", "artifacts") for stage in STAGES},
    "pipeline": (*GROUND, "transforms", "artifacts", *STAGES),
    "__init__": ("artifacts",),
}


def part_of(module: str) -> str:
    """``stylaug.classify.arms`` -> ``classify``; ``stylaug.pipeline`` -> ``pipeline``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts)


def imported_modules(path: Path) -> set[str]:
    """Every ``stylaug.*`` module a file imports, relative imports resolved."""
    tree = ast.parse(path.read_text())
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found |= {
                f"{name}.{a.name}"
                for a in node.names
                if (PACKAGE.parent / f"{name}.{a.name}".replace(".", "/")).is_dir()
            }
    return {m for m in found if m == "stylaug" or m.startswith("stylaug.")}


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "conf" not in p.parts)


def test_every_module_belongs_to_a_known_part():
    unknown = {module_name(p) for p in package_files() if part_of(module_name(p)) not in ALLOWED}
    assert not unknown, f"modules outside the layout's parts: {sorted(unknown)}"


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path):
    here = part_of(module_name(path))
    allowed = {here, *ALLOWED[here]}
    wrong = sorted(
        m for m in imported_modules(path) if m != "stylaug" and part_of(m) not in allowed
    )
    assert not wrong, (
        f"{module_name(path)} ({here}) imports {wrong}; {here} may import {sorted(allowed)}"
    )


def test_every_command_is_a_folder_with_an_entry_and_a_stage():
    for stage in STAGES:
        folder = PACKAGE / stage
        assert (folder / "__main__.py").is_file(), (
            f"python -m stylaug.{stage} needs {folder}/__main__.py"
        )
        assert (folder / "stage.py").is_file(), f"{folder} needs stage.py (the stage as a recipe)"
        assert (folder / "__init__.py").is_file(), f"{folder} needs a face __init__.py"


def test_no_import_circles():
    graph = {module_name(p): imported_modules(p) for p in package_files()}
    modules = set(graph)
    circles = []

    def visit(node, path, on_path, done):
        if node in on_path:
            circles.append(path[path.index(node) :] + [node])
            return
        if node in done:
            return
        on_path.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in modules and not nxt.endswith(("__init__",)) and nxt != node:
                visit(nxt, path + [node], on_path, done)
        on_path.discard(node)
        done.add(node)

    done: set[str] = set()
    for m in sorted(modules):
        if (
            m.count(".") > 1 or m == "stylaug.pipeline"
        ):  # packages' faces re-export: skip them as starts
            visit(m, [], set(), done)
    assert not circles, f"import circles: {circles[:3]}"


def test_models_are_pure_torch():
    """No Lightning stage module and no config node in models/: networks and losses only."""
    for path in sorted((PACKAGE / "models").glob("*.py")):
        text = path.read_text()
        for banned in ("pytorch_lightning", "lightning.pytorch", "omegaconf", "hydra"):
            assert banned not in text, f"{path.relative_to(PACKAGE)} uses {banned}"
