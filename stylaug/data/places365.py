"""Index the four classes out of an existing Places365 copy, without copying any image.

Two layouts are recognised under ``dataset.source``:

* torchvision ``Places365(small=True)``: ``categories_places365.txt``,
  ``places365_train_standard.txt``, ``places365_val.txt``, images under ``data_256_standard/``
  (``data_256/`` as extracted from the archive is accepted too) and ``val_256/``.
* "easyformat" (``places365standard_easyformat.tar``): ``places365_standard/{train,val}/<class>/``,
  where a nested category such as ``/d/desert/sand`` is a folder ``desert-sand``, ``desert_sand`` or
  ``desert/sand``. ``dataset.source`` may point at ``places365_standard/`` or at its parent.

Places365's official validation images become stylaug's ``test`` split.
"""

from __future__ import annotations

from pathlib import Path

from stylaug.data.images import IMAGE_SUFFIXES
from stylaug.data.index import DatasetIndex

LAYOUTS_HELP = (
    "Accepted layouts: (1) torchvision Places365(small=True): categories_places365.txt, "
    "places365_train_standard.txt, places365_val.txt, data_256_standard/ and val_256/; "
    "(2) easyformat: places365_standard/train/<class>/ and places365_standard/val/<class>/. "
    "See data/README.md for how to obtain either."
)


class LayoutError(FileNotFoundError):
    pass


def _read_pairs(path: Path) -> list[tuple[str, int]]:
    pairs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise ValueError(f"{path}:{n}: expected '<name> <index>', got {line!r}")
        pairs.append((parts[0], int(parts[1])))
    return pairs


def detect_layout(source: Path) -> tuple[str, Path]:
    """Return ("torchvision" | "easyformat", the folder the layout is rooted at)."""
    if not source.exists():
        raise LayoutError(f"dataset.source={source} does not exist. {LAYOUTS_HELP}")
    if not source.is_dir():
        raise LayoutError(f"dataset.source={source} is not a folder. {LAYOUTS_HELP}")
    if (source / "categories_places365.txt").exists():
        return "torchvision", source
    for candidate in (source, source / "places365_standard"):
        if (candidate / "train").is_dir() and (candidate / "val").is_dir():
            return "easyformat", candidate
    raise LayoutError(f"no Places365 layout recognised in {source}. {LAYOUTS_HELP}")


def _torchvision_files(root: Path, categories: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    class_ids = dict(_read_pairs(root / "categories_places365.txt"))
    wanted = {}
    for cls, category in categories.items():
        if category not in class_ids:
            raise LayoutError(
                f"category {category} (class {cls}) is not in {root / 'categories_places365.txt'}; "
                "check dataset.categories."
            )
        wanted[class_ids[category]] = cls
    train_dir = next(
        (root / d for d in ("data_256_standard", "data_256") if (root / d).is_dir()), None
    )
    val_dir = root / "val_256"
    for need in (root / "places365_train_standard.txt", root / "places365_val.txt"):
        if not need.exists():
            raise LayoutError(f"missing {need} (torchvision layout). {LAYOUTS_HELP}")
    if train_dir is None or not val_dir.is_dir():
        raise LayoutError(
            f"missing image folder {root / 'data_256_standard'} or {val_dir} (torchvision layout). "
            f"{LAYOUTS_HELP}"
        )
    files = {"train": {c: [] for c in categories}, "test": {c: [] for c in categories}}
    for split, listing, image_dir in (
        ("train", "places365_train_standard.txt", train_dir),
        ("test", "places365_val.txt", val_dir),
    ):
        for name, idx in _read_pairs(root / listing):
            if idx in wanted:
                rel = (image_dir / name.lstrip("/")).relative_to(root).as_posix()
                files[split][wanted[idx]].append(rel)
    return files


def _class_folder(split_dir: Path, category: str) -> Path | None:
    parts = category.strip("/").split("/")[1:]  # "/d/desert/sand" -> ["desert", "sand"]
    for candidate in ("-".join(parts), "_".join(parts), "/".join(parts)):
        if (split_dir / candidate).is_dir():
            return split_dir / candidate
    return None


def _easyformat_files(root: Path, categories: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    files = {"train": {}, "test": {}}
    for split, folder in (("train", "train"), ("test", "val")):
        for cls, category in categories.items():
            class_dir = _class_folder(root / folder, category)
            if class_dir is None:
                parts = category.strip("/").split("/")[1:]
                raise LayoutError(
                    f"class {cls} ({category}) has no folder in {root / folder}: looked for "
                    f"{'-'.join(parts)}/, {'_'.join(parts)}/ and {'/'.join(parts)}/. {LAYOUTS_HELP}"
                )
            files[split][cls] = sorted(
                p.relative_to(root).as_posix()
                for p in class_dir.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
    return files


def index_places365(
    source: str | Path, categories: dict[str, str], name: str = "places365"
) -> DatasetIndex:
    """Build the index of every listed file.

    Files a listing names but the disk lacks stay in; ``check_images`` (run next by
    ``prepare_data``) reports them together with every other unreadable file.
    """
    if source is None:
        raise LayoutError(
            "dataset=places365 needs dataset.source=PATH (your Places365 copy). " + LAYOUTS_HELP
        )
    layout, root = detect_layout(Path(source).expanduser().resolve())
    files = (_torchvision_files if layout == "torchvision" else _easyformat_files)(root, categories)
    for split, per_class in files.items():
        for cls, rels in per_class.items():
            if not rels:
                raise LayoutError(
                    f"class {cls} has no {split} images under {root} ({layout} layout); "
                    "is the copy complete? " + LAYOUTS_HELP
                )
    return DatasetIndex(
        name, root, list(categories), files, meta={"layout": layout, "source": str(root)}
    )
