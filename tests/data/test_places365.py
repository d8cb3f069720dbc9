import pytest
from PIL import Image

from stylaug.data.check import UnreadableImagesError
from stylaug.data.index import CLASSES, load_index
from stylaug.data.places365 import LayoutError
from stylaug.prepare_data.stage import prepare_data
from tests.conftest import compose_cfg

CATEGORIES = {
    "/a/airfield": 0,
    "/d/desert/sand": 117,
    "/h/hot_spring": 187,
    "/o/ocean": 243,
    "/s/skyscraper": 298,
}
PER_CLASS = {"train": 3, "val": 2}


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)


def make_torchvision_tree(root, folder="data_256_standard"):
    (root / "categories_places365.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "categories_places365.txt").write_text(
        "".join(f"{c} {i}\n" for c, i in CATEGORIES.items())
    )
    train_lines, val_lines, n = [], [], 0
    for category, idx in CATEGORIES.items():
        for k in range(PER_CLASS["train"]):
            name = f"{category}/{k + 1:08d}.jpg"
            train_lines.append(f"{name} {idx}\n")
            _png(root / folder / name.lstrip("/"))
        for _ in range(PER_CLASS["val"]):
            n += 1
            val_lines.append(f"Places365_val_{n:08d}.jpg {idx}\n")
            _png(root / "val_256" / f"Places365_val_{n:08d}.jpg")
    (root / "places365_train_standard.txt").write_text("".join(train_lines))
    (root / "places365_val.txt").write_text("".join(val_lines))
    return root


def make_easyformat_tree(root, joiner="-"):
    base = root / "places365_standard"
    for category in CATEGORIES:
        folder = joiner.join(category.strip("/").split("/")[1:])
        for split in ("train", "val"):
            for k in range(PER_CLASS[split]):
                _png(base / split / folder / f"{k:08d}.jpg")
    return root


def _prepare(tmp_path, source, *extra):
    cfg = compose_cfg(
        "prepare_data", ["dataset=places365", f"dataset.source={source}", *extra], tmp_path / "out"
    )
    prepare_data(cfg)
    return load_index(cfg.dataset)


@pytest.mark.parametrize("folder", ["data_256_standard", "data_256"])
def test_torchvision_small_layout(tmp_path, folder):
    index = _prepare(tmp_path, make_torchvision_tree(tmp_path / "places", folder))
    assert index.meta["layout"] == "torchvision"
    assert index.counts() == {"train": dict.fromkeys(CLASSES, 3), "test": dict.fromkeys(CLASSES, 2)}
    assert index.paths("train", "desert_sand")[0] == f"{folder}/d/desert/sand/00000001.jpg"
    assert all(index.abspath(p).exists() for p in index.paths("test", "ocean"))
    assert not (tmp_path / "out/data/places365/train").exists()  # indexed, not copied
    assert (tmp_path / "out/data/places365/samples.png").exists()


@pytest.mark.parametrize("joiner", ["-", "_", "/"])
@pytest.mark.parametrize("point_at", ["parent", "places365_standard"])
def test_easyformat_layout(tmp_path, joiner, point_at):
    root = make_easyformat_tree(tmp_path / "places", joiner)
    source = root if point_at == "parent" else root / "places365_standard"
    index = _prepare(tmp_path, source)
    assert index.meta["layout"] == "easyformat"
    assert index.counts() == {"train": dict.fromkeys(CLASSES, 3), "test": dict.fromkeys(CLASSES, 2)}


def test_missing_source_folder_names_the_path_and_layouts(tmp_path):
    with pytest.raises(LayoutError, match=r"does not exist.*Accepted layouts"):
        _prepare(tmp_path, tmp_path / "nowhere")


def test_source_is_required(tmp_path):
    with pytest.raises(LayoutError, match="dataset.source=PATH"):
        prepare_data(compose_cfg("prepare_data", ["dataset=places365"], tmp_path))


def test_unrecognised_layout(tmp_path):
    (tmp_path / "junk" / "images").mkdir(parents=True)
    with pytest.raises(LayoutError, match=r"no Places365 layout recognised in .*junk.*easyformat"):
        _prepare(tmp_path, tmp_path / "junk")


def test_missing_class_folder(tmp_path):
    root = make_easyformat_tree(tmp_path / "places")
    for p in (root / "places365_standard/val/hot_spring").iterdir():
        p.unlink()
    (root / "places365_standard/val/hot_spring").rmdir()
    with pytest.raises(
        LayoutError, match=r"class hot_spring \(/h/hot_spring\) has no folder in .*val"
    ):
        _prepare(tmp_path, root)


def test_missing_category_in_torchvision_listing(tmp_path):
    root = make_torchvision_tree(tmp_path / "places")
    text = (root / "categories_places365.txt").read_text().replace("/o/ocean 243\n", "")
    (root / "categories_places365.txt").write_text(text)
    with pytest.raises(LayoutError, match="/o/ocean"):
        _prepare(tmp_path, root)


def test_listed_but_missing_files_are_bad_images_listed_or_fatal(tmp_path, caplog):
    root = make_torchvision_tree(tmp_path / "places")
    gone = "data_256_standard/o/ocean/00000002.jpg"
    (root / gone).unlink()
    index = _prepare(tmp_path, root)
    assert index.counts()["train"]["ocean"] == 2 and gone not in index.paths("train", "ocean")
    assert index.meta["bad_image_count"] == 1
    assert index.meta["bad_images"] == [
        {"path": gone, "reason": "listed but missing on disk", "split": "train", "class": "ocean"}
    ]
    assert "1 unreadable image(s) left out" in caplog.text and gone in caplog.text
    with pytest.raises(
        UnreadableImagesError, match=rf"(?s){root / gone}: listed but missing.*skip"
    ):
        _prepare(tmp_path / "strict", root, "data.on_bad_image=error")
