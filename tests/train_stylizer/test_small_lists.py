"""A scenario's list smaller than one batch (fewshot k=1, 2) trains in batches of the whole list,
and says so in its settings; every larger list keeps the identity it always had."""

import pytest

from stylaug.data.index import load_index
from stylaug.prepare_data.stage import prepare_data
from stylaug.train_stylizer.group_training import why_alone
from stylaug.train_stylizer.stage import StylizerPlan
from tests.conftest import compose_cfg
from tests.folder_fixture import make_folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_lists")
    make_folder(root / "photos", ["cat", "owl"], per_class=10, test_per_class=2, size=(24, 40))
    return root


def plan(root, *overrides, with_cfg=False):
    cfg = compose_cfg(
        "train_stylizer",
        ["dataset=folder", f"dataset.source={root / 'photos'}", "stylizer.batch_size=4",
         "stylizer.max_steps=-1", "stylizer.min_steps=3", "stylizer.epochs=2",
         "model.loss_net.weights=random", "class=owl", *overrides],
        root,
    )  # fmt: skip
    if not (root / "data").exists():
        prepare_data(cfg)
    made = StylizerPlan(cfg, "owl", load_index(cfg.dataset))
    return (made, cfg) if with_cfg else made


def test_a_list_smaller_than_a_batch_trains_on_the_whole_list(photos):
    one = plan(photos, "scenario=fewshot", "scenario.shots=1")
    assert len(one.images) == 1 and one.batch_size == 1
    assert one.settings["batch_size"] == 1 and one.settings["effective_batch"] == 1
    assert one.steps == 3  # max(2 epochs x 1 batch, min_steps)
    two = plan(photos, "scenario=fewshot", "scenario.shots=2")
    assert set(two.images) > set(one.images) and two.batch_size == 2  # nested: k ⊂ 2k


def test_a_list_of_a_batch_or_more_keeps_its_settings_and_identity(photos):
    four = plan(photos, "scenario=fewshot", "scenario.shots=4")
    assert four.batch_size == 4 and "batch_size" not in four.settings
    assert four.settings["effective_batch"] == 4
    assert four.steps == 3  # max(2 epochs x 1 batch of 4, min_steps)


def test_a_list_smaller_than_a_batch_trains_outside_a_group(photos):
    """A group's networks share one batch size, so a network on a list shorter than a batch
    trains alone (its drop_last batches of 4 would be none: the 10-class folder run's crash)."""
    pretrained = "model.loss_net.weights=imagenet"  # random weights keep every network alone
    one, cfg = plan(photos, "scenario=fewshot", "scenario.shots=1", pretrained, with_cfg=True)
    assert why_alone(cfg, one) == "1 training images, fewer than one batch"
    four, cfg = plan(photos, "scenario=fewshot", "scenario.shots=4", pretrained, with_cfg=True)
    assert why_alone(cfg, four) is None
