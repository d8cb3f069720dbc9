"""Index any folder of class folders (torchvision's ImageFolder layout) in place, never copied.

Two layouts are recognised under ``dataset.source``:

* split: ``PATH/train/<class>/...`` and ``PATH/test/<class>/...`` (``val/`` is accepted as the test
  split when there is no ``test/``);
* flat: ``PATH/<class>/...`` only. A held-out test split is then drawn per class (stratified):
  ``dataset.test_fraction`` of each class's images, in an order seeded by ``dataset.split_seed``
  and the class name, so it is the same on every machine and for every run seed. The index
  records how it was drawn (``meta.split``).

Classes are the class folders' names, sorted as ImageFolder sorts them (any names, at least two);
``dataset.classes=[...]`` keeps a subset. Images are found anywhere inside a class folder, by
extension, case-insensitively (``.JPG`` is an image). Hidden files and folders (a leading dot)
and files that are not images by extension are left out and counted in ``meta.ignored``;
unreadable images are found later by ``stylaug.data.check``, as for every dataset.
"""

from __future__ import annotations

import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from stylaug.data.images import IMAGE_SUFFIXES
from stylaug.data.index import DatasetIndex

TEST_FOLDERS = ("test", "val")  # the first that exists is the test split
SHOWN = 5  # names listed in an error message

LAYOUT_HELP = (
    "Expected torchvision's ImageFolder layout: PATH/train/<class>/<image> and "
    "PATH/test/<class>/<image> (or PATH/val/<class>/...), or only PATH/<class>/<image> (a "
    "held-out test split is then drawn: dataset.test_fraction). See data/README.md."
)


class FolderLayoutError(ValueError):
    """The folder is not a dataset stylaug can index; the message says what was found."""


def dataset_name(source) -> str:
    """``folder:<name of the source folder>``: the name in every folder, row and report."""
    if source is None:
        return "folder"
    return f"folder:{Path(str(source)).expanduser().resolve().name}"


def _hidden(path: Path, below: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(below).parts)


def _names(items, n: int = SHOWN) -> str:
    items = list(items)
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


def class_folders(split_dir: Path) -> list[Path]:
    """The visible folders directly under ``split_dir``, in ImageFolder's (sorted) order."""
    return sorted(
        (p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def scan_class(folder: Path, root: Path, ignored: Counter, examples: dict) -> list[str]:
    """The image files anywhere under ``folder`` (paths relative to ``root``, sorted); hidden
    and non-image files are counted in ``ignored`` (a few named in ``examples``)."""
    images = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(root).as_posix()
        if _hidden(path, folder):
            why = "hidden"
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            why = "not an image (by extension)"
        else:
            images.append(rel)
            continue
        ignored[why] += 1
        if len(examples.setdefault(why, [])) < SHOWN:
            examples[why].append(rel)
    return images


def _count_loose_files(split_dir: Path, root: Path, ignored: Counter, examples: dict) -> None:
    """Files beside the class folders belong to no class: ignored, and counted."""
    for path in sorted(p for p in split_dir.iterdir() if p.is_file()):
        why = "outside the class folders"
        ignored[why] += 1
        if len(examples.setdefault(why, [])) < SHOWN:
            examples[why].append(path.relative_to(root).as_posix())


def detect_splits(root: Path) -> dict[str, Path] | None:
    """{"train": dir, "test": dir} for the split layout, None for the flat one."""
    train = root / "train"
    test = next((root / t for t in TEST_FOLDERS if (root / t).is_dir()), None)
    if train.is_dir() and test is not None:
        return {"train": train, "test": test}
    if train.is_dir() or test is not None:
        found, missing = (
            ("train/", "test/ or val/") if train.is_dir() else (f"{test.name}/", "train/")
        )
        raise FolderLayoutError(
            f"{root} has {found} but no {missing}: a split layout needs both. Add {missing}, or "
            "move the class folders directly under the source folder to have a test split drawn "
            f"from them. {LAYOUT_HELP}"
        )
    return None


def held_out_split(
    pool: dict[str, list[str]], fraction: float, seed: int
) -> dict[str, dict[str, list[str]]]:
    """Per class, ``fraction * n`` images (rounded, halves up; at least one) become the test split.

    Stratified (every class keeps its share), and seeded by ``seed`` and the class name only, so
    adding a class or an image elsewhere does not move another class's test images."""
    if not 0 < float(fraction) < 1:
        raise ValueError(f"dataset.test_fraction={fraction} must be between 0 and 1 (e.g. 0.2)")
    files = {"train": {}, "test": {}}
    for cls, paths in pool.items():
        n_test = max(1, int(float(fraction) * len(paths) + 0.5))  # halves up
        if n_test >= len(paths):
            raise FolderLayoutError(
                f"class {cls} has {len(paths)} image(s): too few to hold out a test split "
                f"(dataset.test_fraction={fraction} takes {n_test}). Add images to it, or give it "
                "its own PATH/train/ and PATH/test/ folders."
            )
        order = np.random.default_rng([int(seed), zlib.crc32(cls.encode())]).permutation(len(paths))
        test = {paths[i] for i in order[:n_test]}
        files["test"][cls] = [p for p in paths if p in test]
        files["train"][cls] = [p for p in paths if p not in test]
    return files


def choose_classes(folders: dict[str, dict], wanted, dirs: dict[str, Path]) -> list[str]:
    """The classes to index: every class folder (the same in every split), or ``dataset.classes``
    (each must be a class folder in every split); at least two."""
    if wanted is None:
        if len(folders) == 2:
            _same_classes(folders, dirs)
        chosen = sorted(next(iter(folders.values())))
    else:
        chosen = [str(c) for c in wanted]
        for split, per_class in folders.items():
            missing = [c for c in chosen if c not in per_class]
            if missing:
                raise FolderLayoutError(
                    f"dataset.classes names {missing}, which are not class folders in "
                    f"{dirs[split]}; the class folders there are: {_names(sorted(per_class), 50)}. "
                    "Fix dataset.classes (or leave it null for every class)."
                )
    if len(chosen) < 2:
        what = f"one class ({chosen[0]})" if chosen else "no class"
        where = next(iter(dirs.values())).parent if len(dirs) == 2 else next(iter(dirs.values()))
        raise FolderLayoutError(
            f"{what} in {where}: a classifier needs at least two. Add another class folder"
            + (" or name more in dataset.classes." if wanted is not None else ".")
        )
    return chosen


def _no_classes(where: Path) -> FolderLayoutError:
    files = sorted(p.name for p in where.iterdir() if p.is_file())
    seen = f"found only files ({_names(files)})" if files else "it is empty"
    return FolderLayoutError(f"no class folders in {where}: {seen}. {LAYOUT_HELP}")


def index_folder(
    source,
    classes=None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    name: str | None = None,
) -> DatasetIndex:
    """The index of every image file of the chosen classes, paths relative to the source."""
    if source is None:
        raise FolderLayoutError(f"dataset=folder needs dataset.source=PATH. {LAYOUT_HELP}")
    root = Path(str(source)).expanduser().resolve()
    if not root.exists():
        raise FolderLayoutError(f"dataset.source={source} does not exist ({root}). {LAYOUT_HELP}")
    if not root.is_dir():
        raise FolderLayoutError(f"dataset.source={source} is a file, not a folder. {LAYOUT_HELP}")
    splits = detect_splits(root)
    dirs = splits or {"pool": root}
    folders = {}  # split ("pool" for the flat layout) -> class -> its folder
    for split, split_dir in dirs.items():
        folders[split] = {f.name: f for f in class_folders(split_dir)}
        if not folders[split]:
            raise _no_classes(split_dir)
    chosen = choose_classes(folders, classes, dirs)
    ignored, examples = Counter(), {}
    for split_dir in dirs.values():
        _count_loose_files(split_dir, root, ignored, examples)
    found = {
        split: {c: scan_class(per_class[c], root, ignored, examples) for c in chosen}
        for split, per_class in folders.items()
    }
    for split, per_class in found.items():
        for cls, paths in per_class.items():
            if not paths:
                raise FolderLayoutError(
                    f"class {cls} has no image files in {folders[split][cls]} (extensions "
                    f"{', '.join(IMAGE_SUFFIXES)}, any case; hidden and other files are "
                    "ignored). Add images, or leave the class out with dataset.classes=[...]."
                )
    meta = {
        "layout": "imagefolder",
        "source": str(root),
        "ignored": dict(ignored),
        "ignored_examples": examples,
    }
    if splits:
        files = {"train": found["train"], "test": found["test"]}
        meta["split"] = {"kind": "folders", "train": "train", "test": splits["test"].name}
    else:
        files = held_out_split(found["pool"], test_fraction, split_seed)
        meta["split"] = {
            "kind": "held_out",
            "test_fraction": float(test_fraction),
            "split_seed": int(split_seed),
            "rule": "per class: test_fraction * n images (rounded half up, at least 1), in an order "
            "seeded by (split_seed, crc32 of the class name)",
        }
    return DatasetIndex(name or dataset_name(root), root, chosen, files, meta)


def _same_classes(found: dict, splits: dict[str, Path]) -> None:
    train, test = set(found["train"]), set(found["test"])
    if train == test:
        return
    parts = []
    if train - test:
        parts.append(f"only in {splits['train']}: {_names(sorted(train - test))}")
    if test - train:
        parts.append(f"only in {splits['test']}: {_names(sorted(test - train))}")
    raise FolderLayoutError(
        f"the train and {splits['test'].name} splits have different class folders ("
        + "; ".join(parts)
        + "). Every class needs a folder in both; add the missing ones or remove the extra ones."
    )
