import pytest

from stylaug.data.index import CLASSES, DatasetIndex
from stylaug.data.scenarios import sample_scenario, scaled
from tests.conftest import compose_cfg

SCENARIOS = ["balanced", "biased_case1", "biased_case2", "scarce"]
PAPER = {  # per class at full size: (train, val, stylized)
    "balanced": {c: (4000, 1000, 1000) for c in CLASSES},
    "biased_case1": {c: (1000 if c == "hot_spring" else 4000, 1000, 1000) for c in CLASSES},
    "biased_case2": {
        c: (1000 if c == "hot_spring" else 4000, 1000, 1000 if c == "hot_spring" else 0)
        for c in CLASSES
    },
    "scarce": {c: (400, 100, 500) for c in CLASSES},
}


def fake_index(train=5000, test=100) -> DatasetIndex:
    return DatasetIndex(
        "fake",
        "/nowhere",
        list(CLASSES),
        {
            "train": {c: [f"train/{c}/{i}.jpg" for i in range(train)] for c in CLASSES},
            "test": {c: [f"test/{c}/{i}.jpg" for i in range(test)] for c in CLASSES},
        },
    )


def scenario_cfg(name, scale=1.0):
    return compose_cfg("classify", [f"scenario={name}", f"dataset.scenario_scale={scale}"]).scenario


@pytest.mark.parametrize("name", SCENARIOS)
def test_paper_counts_at_full_size(name):
    split = sample_scenario(fake_index(), scenario_cfg(name), seed=0)
    for cls, (n_train, n_val, n_aug) in PAPER[name].items():
        assert len(split.train[cls]) == n_train
        assert len(split.val[cls]) == n_val
        assert len(split.augment[cls]) == n_aug
        assert len(split.test[cls]) == 100


@pytest.mark.parametrize("name", SCENARIOS)
def test_counts_scale_down_for_small_data(name, tiny_index):
    cfg = compose_cfg("classify", [f"scenario={name}", "dataset.scenario_scale=0.01"]).scenario
    split = sample_scenario(tiny_index, cfg, seed=0)
    for cls, (n_train, n_val, n_aug) in PAPER[name].items():
        assert len(split.train[cls]) == scaled(n_train, 0.01)
        assert len(split.val[cls]) == scaled(n_val, 0.01)
        assert len(split.augment[cls]) == scaled(n_aug, 0.01)


@pytest.mark.parametrize("name", SCENARIOS)
def test_lists_are_disjoint_and_stylization_sources_are_training_images(name):
    split = sample_scenario(fake_index(), scenario_cfg(name), seed=3)
    for cls in CLASSES:
        train, val, test = set(split.train[cls]), set(split.val[cls]), set(split.test[cls])
        assert len(train) == len(split.train[cls])  # no duplicates
        assert not train & val and not train & test and not val & test
        assert {src for src, _ in split.augment[cls]} <= train
        assert len(set(split.augment[cls])) == len(split.augment[cls])  # (source, view) unique


def test_scarce_reuses_sources_as_mirrored_views():
    split = sample_scenario(fake_index(), scenario_cfg("scarce"), seed=0)
    views = [v for _, v in split.augment["ocean"]]
    assert views.count(0) == 400 and views.count(1) == 100


def test_same_seed_same_lists_other_seed_other_lists():
    a = sample_scenario(fake_index(), scenario_cfg("balanced"), seed=1)
    b = sample_scenario(fake_index(), scenario_cfg("balanced"), seed=1)
    c = sample_scenario(fake_index(), scenario_cfg("balanced"), seed=2)
    assert a.train == b.train and a.val == b.val and a.augment == b.augment
    assert a.train != c.train


def test_nesting_across_scenarios_for_one_seed():
    index, seed = fake_index(), 4
    split = {n: sample_scenario(index, scenario_cfg(n), seed) for n in SCENARIOS}
    hot = "hot_spring"
    assert set(split["biased_case1"].train[hot]) <= set(split["balanced"].train[hot])
    assert split["biased_case1"].train[hot] == split["balanced"].train[hot][:1000]
    assert set(split["scarce"].train[hot]) <= set(split["biased_case1"].train[hot])
    assert set(split["scarce"].val[hot]) <= set(split["balanced"].val[hot])
    assert split["biased_case1"].train["ocean"] == split["balanced"].train["ocean"]
    # one augmented set per seed serves every scenario
    assert split["biased_case2"].augment[hot] == split["balanced"].augment[hot]


def test_asking_for_more_images_than_exist_is_an_error():
    with pytest.raises(
        ValueError, match=r"needs 4000 training \+ 1000 validation .* has only 3000"
    ):
        sample_scenario(fake_index(train=3000), scenario_cfg("balanced"), seed=0)


def test_too_many_stylized_images_is_an_error():
    cfg = scenario_cfg("scarce")
    cfg.augment_per_class = 900
    with pytest.raises(ValueError, match="asks for 900 stylized images"):
        sample_scenario(fake_index(), cfg, seed=0)


def test_scaled_never_rounds_a_count_to_zero():
    assert scaled(4000, 0.0001) == 1 and scaled(0, 5.0) == 0 and scaled(1000, 0.1) == 100
