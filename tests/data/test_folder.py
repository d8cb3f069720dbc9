"""dataset=folder: any ImageFolder tree of real photos indexed in place, and every bad layout a
clear error that says what was found and what to do."""

import shutil

import pytest

from stylaug.data.folder import FolderLayoutError, index_folder
from stylaug.data.index import load_index
from stylaug.prepare_data.stage import prepare_data
from tests.conftest import compose_cfg
from tests.folder_fixture import make_folder

SMALL = {"per_class": 6, "test_per_class": 3, "size": (24, 48)}
CLASSES = ["cat", "coffee", "rocket"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """train/ and test/ of three classes: mixed sizes, JPEG and PNG, upper-case extensions,
    stray and hidden files, one truncated JPEG per split."""
    path = tmp_path_factory.mktemp("photos")
    written = make_folder(path, CLASSES, **SMALL)
    return path, written


def prepare(root, source, *extra):
    cfg = compose_cfg("prepare_data", ["dataset=folder", f"dataset.source={source}", *extra], root)
    prepare_data(cfg)
    return cfg, load_index(cfg.dataset)


def test_split_layout_indexed_in_place_with_strays_counted(photos, tmp_path):
    source, written = photos
    cfg, index = prepare(tmp_path, source)
    assert index.name == f"folder:{source.name}" and cfg.dataset.name == index.name
    assert index.classes == CLASSES  # from the folder names, sorted
    assert index.root == source.resolve()  # in place: nothing copied
    assert not list((tmp_path / "data").rglob("*.jpg")) and not list(
        (tmp_path / "data").rglob("*.JPG")
    )
    bad = {b["path"] for b in index.meta["bad_images"]}
    assert bad == set(written["bad"])  # checked once, listed, counted
    for split in ("train", "test"):
        for cls in CLASSES:
            paths = index.paths(split, cls)
            assert len(paths) == written["images"][split][cls]  # every photo, whatever its case
            assert all(p.startswith(f"{split}/{cls}/img_") for p in paths)
    suffixes = {p.rsplit(".", 1)[1] for per in index.files["train"].values() for p in per}
    assert {"JPG", "PNG", "jpg", "png"} <= suffixes
    ignored = index.meta["ignored"]
    assert ignored["hidden"] == 2 * 2 * len(
        CLASSES
    )  # .DS_Store and .ipynb_checkpoints/*, per split
    assert ignored["not an image (by extension)"] == 2 * 2 * len(CLASSES)  # notes.txt, Thumbs.db
    assert index.meta["split"]["kind"] == "folders"


def test_val_folder_is_the_test_split_and_classes_pick_a_subset(photos, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(photos[0], source)
    (source / "test").rename(source / "val")
    _, index = prepare(tmp_path, source, "dataset.classes=[rocket,cat]")
    assert index.classes == ["rocket", "cat"]
    assert index.meta["split"]["test"] == "val"
    assert all(p.startswith("val/rocket/") for p in index.paths("test", "rocket"))


def test_flat_layout_holds_out_a_stratified_seeded_test_split(tmp_path):
    source = tmp_path / "flat"
    make_folder(source, CLASSES, per_class=7, test_per_class=3, flat=True, size=(24, 40), bad=False)
    split = {"kind": "held_out", "test_fraction": 0.3, "split_seed": 5}
    a = index_folder(source, test_fraction=0.3, split_seed=5)
    assert {k: a.meta["split"][k] for k in split} == split
    for cls in CLASSES:  # 10 images per class: 3 test, 7 train, disjoint
        train, test = set(a.paths("train", cls)), set(a.paths("test", cls))
        assert (len(train), len(test)) == (7, 3) and not train & test
    assert index_folder(source, test_fraction=0.3, split_seed=5).files == a.files  # deterministic
    assert index_folder(source, test_fraction=0.3, split_seed=6).files != a.files  # seeded
    # a class's test images depend on its own name and files only, not on the other classes
    b = index_folder(source, classes=["cat", "rocket"], test_fraction=0.3, split_seed=5)
    assert b.paths("test", "rocket") == a.paths("test", "rocket")


def test_a_folder_dataset_is_never_named_as_a_builtin_one(photos, tmp_path):
    with pytest.raises(ValueError, match="built-in dataset's name"):
        prepare(tmp_path, photos[0], "dataset.name=places365")


def _tree(root, layout: dict[str, int]):
    """{relative file: byte count or -1 for a real PNG}"""
    from PIL import Image

    for rel, n in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if n < 0:
            Image.new("RGB", (8, 8), (90, 20, 30)).save(path, format="PNG")
        else:
            path.write_bytes(b"x" * n)
    return root


@pytest.mark.parametrize(
    "layout, extra, message",
    [
        (None, {}, r"does not exist .*ImageFolder layout"),
        ({"a.jpg": -1, "notes.txt": 3}, {}, r"no class folders in .*found only files \(a.jpg, notes.txt\)"),
        ({"cat/a.jpg": -1}, {}, r"one class \(cat\) .* needs at least two. Add another class folder"),
        ({"cat/a.jpg": -1, "dog/notes.txt": 3, "dog/.b.jpg": -1}, {},
         r"class dog has no image files in .*dog .*Add images, or leave the class out"),
        ({"train/cat/a.jpg": -1, "train/dog/a.jpg": -1, "test/cat/a.jpg": -1, "test/cow/a.jpg": -1},
         {}, r"different class folders \(only in .*train: dog; only in .*test: cow\)"),
        ({"train/cat/a.jpg": -1, "train/dog/a.jpg": -1}, {}, r"has train/ but no test/ or val/"),
        ({"cat/a.jpg": -1, "cat/b.jpg": -1, "dog/a.jpg": -1, "dog/b.jpg": -1},
         {"classes": ["cat", "cow"]}, r"names \['cow'\], which are not class folders .*cat, dog"),
        ({"cat/a.jpg": -1, "cat/b.jpg": -1, "dog/a.jpg": -1}, {},
         r"class dog has 1 image\(s\): too few to hold out a test split"),
    ],
    ids=["missing", "no-classes", "one-class", "empty-class", "splits-differ", "no-test",
         "unknown-subset", "too-small-to-split"],
)  # fmt: skip
def test_bad_layouts_say_what_was_found_and_what_to_do(tmp_path, layout, extra, message):
    source = tmp_path / "src"
    if layout is not None:
        _tree(source, layout)
    with pytest.raises(FolderLayoutError, match=message):
        index_folder(source, **extra)


def test_a_class_whose_images_are_all_unreadable_is_an_error(tmp_path):
    source = _tree(tmp_path / "src", {"train/cat/a.jpg": -1, "train/dog/a.jpg": 20,
                                      "test/cat/a.jpg": -1, "test/dog/a.jpg": -1})  # fmt: skip
    with pytest.raises(ValueError, match=r"class dog has no readable train images .*unreadable"):
        prepare(tmp_path, source)
    with pytest.raises(ValueError, match="dataset=folder needs dataset.source=PATH"):
        prepare(tmp_path, "null")


def test_a_subset_needs_its_classes_in_every_split_only(tmp_path):
    source = _tree(tmp_path / "src", {"train/cat/a.jpg": -1, "train/dog/a.jpg": -1,
                                      "train/cow/a.jpg": -1, "test/cat/a.jpg": -1,
                                      "test/dog/a.jpg": -1})  # fmt: skip
    assert index_folder(source, classes=["dog", "cat"]).classes == ["dog", "cat"]
    with pytest.raises(
        FolderLayoutError, match=r"names \['cow'\], which are not class folders in .*test"
    ):
        index_folder(source, classes=["cow", "cat"])
