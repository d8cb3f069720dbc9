"""A dataset index: which image files belong to which split and class.

``prepare_data`` writes one ``index.json`` per dataset; every later stage reads the data only
through it. Paths inside are relative to ``root`` so an index survives moving the data folder, and
so paths can serve as stable identifiers in manifests, caches and results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stylaug.core.commands import command_line
from stylaug.core.integrity import read_sealed_json, write_sealed_json

CLASSES = ("desert_sand", "hot_spring", "ocean", "skyscraper")
SPLITS = ("train", "test")  # "test" is Places365's official validation set, used for nothing else


@dataclass
class DatasetIndex:
    name: str
    root: Path
    classes: list[str]
    files: dict[str, dict[str, list[str]]]  # split -> class -> paths relative to root
    meta: dict = field(default_factory=dict)

    def paths(self, split: str, cls: str) -> list[str]:
        try:
            return self.files[split][cls]
        except KeyError:
            raise KeyError(
                f"dataset {self.name!r} has no {split!r} images for class {cls!r}; "
                f"its classes are {self.classes} and splits {sorted(self.files)}"
            ) from None

    def abspath(self, rel: str) -> Path:
        return self.root / rel

    def counts(self) -> dict[str, dict[str, int]]:
        return {s: {c: len(v) for c, v in per.items()} for s, per in self.files.items()}

    def save(self, path: str | Path) -> None:
        """Write atomically; a root inside the index's own folder is stored as a relative path."""
        path = Path(path)
        root = Path(self.root).resolve()
        base = path.parent.resolve()
        stored = root.relative_to(base).as_posix() if root.is_relative_to(base) else str(root)
        write_sealed_json(
            path,
            {
                "name": self.name,
                "root": stored,
                "classes": self.classes,
                "files": self.files,
                "meta": self.meta,
            },
        )

    @classmethod
    def load(cls, path: str | Path, fix: str | None = None) -> DatasetIndex:
        """The index at ``path``; ``fix``: the prepare_data command that (re)writes it."""
        path = Path(path)
        fix = fix or "python -m stylaug.prepare_data (with the same dataset= and paths.root=)"
        if not path.exists():
            raise FileNotFoundError(f"no dataset index at {path}. Run `{fix}` first.")
        raw = read_sealed_json(
            path,
            f"Run `{fix}` again: it writes a new index.",
            required=False,  # indexes written before they were sealed
        )
        root = Path(raw["root"])
        if not root.is_absolute():  # relative roots are relative to the index file's folder
            root = (path.parent / root).resolve()
        return cls(raw["name"], root, list(raw["classes"]), raw["files"], raw.get("meta", {}))


def index_path(dataset_cfg) -> Path:
    """Where ``prepare_data`` puts the index of the configured dataset."""
    return Path(dataset_cfg.dir) / "index.json"


def load_index(dataset_cfg) -> DatasetIndex:
    fix = command_line("prepare_data", [f"dataset.dir={dataset_cfg.dir}"], dataset_cfg.name)
    return DatasetIndex.load(index_path(dataset_cfg), fix)
