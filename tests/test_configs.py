import pytest
from omegaconf import OmegaConf

from tests.conftest import PRIMARY_CONFIGS, compose_cfg

REQUIRED = {"train_stylizer": ["class=ocean"]}


@pytest.mark.parametrize("name", PRIMARY_CONFIGS)
@pytest.mark.parametrize(
    "experiment", [None, "demo", "paper", "paper_synthetic", "demo_families", "demo_online"]
)
def test_every_primary_config_composes_and_resolves(name, experiment, tmp_path):
    overrides = REQUIRED.get(name, []) + ([f"experiment={experiment}"] if experiment else [])
    cfg = compose_cfg(name, overrides, tmp_path)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["paths"]["data_dir"] == f"{tmp_path}/data"
    assert resolved["dataset"]["name"] == ("places365" if experiment == "paper" else "synthetic")
    for group in ("dataset", "scenario", "model", "trainer", "logger", "data"):
        assert group in resolved


def test_paths_default_to_the_current_directory():
    cfg = compose_cfg("prepare_data")
    assert cfg.paths.root == "."
    assert cfg.paths.results_dir == "./results"


def test_demo_preset_uses_the_offline_pretrained_network_for_both_roles():
    cfg = compose_cfg("classify", ["experiment=demo"])
    assert cfg.dataset.image_size == 64
    for net in (cfg.model.backbone, cfg.model.loss_net):
        assert (net.arch, net.weights) == ("efficientnet_lite0", "imagenet")
    assert cfg.trainer.accelerator == "cpu" and cfg.stylizer.pool == "class"  # 4 networks


@pytest.mark.parametrize(
    "experiment", [None, "demo", "paper", "paper_synthetic", "demo_families", "demo_online"]
)
def test_a_preset_sets_only_nodes_of_commands_that_read_them(experiment):
    extra = [f"experiment={experiment}"] if experiment else []
    for name in PRIMARY_CONFIGS:
        cfg = compose_cfg(name, REQUIRED.get(name, []) + extra)
        own = {"gatys", "johnson", "segmentation", "photoreal"} & set(cfg)
        assert own == (set() if name != "stylize" else {"gatys", "johnson", "segmentation",
                                                         "photoreal"}), name  # fmt: skip
        assert ("pipeline" in cfg) == (name == "pipeline")


def test_paper_preset_reproduces_the_paper_protocol():
    cfg = compose_cfg("classify", ["experiment=paper"])
    assert cfg.stylizer.pool == "class" and cfg.stylizer.min_steps == 0
    assert (cfg.model.loss_net.arch, cfg.model.backbone.arch) == ("vgg16", "resnet18")


@pytest.mark.parametrize("scenario", ["balanced", "biased_case1", "biased_case2", "scarce"])
def test_scenarios_take_their_scale_from_the_dataset(scenario):
    cfg = compose_cfg("classify", [f"scenario={scenario}"])
    assert cfg.scenario.name == scenario
    assert cfg.scenario.scale == cfg.dataset.scenario_scale == 0.1
    assert (
        compose_cfg("classify", [f"scenario={scenario}", "dataset=places365"]).scenario.scale == 1.0
    )


@pytest.mark.parametrize("logger", ["wandb", "csv", "none"])
def test_logger_choices_compose(logger):
    cfg = compose_cfg("classify", [f"logger={logger}"])
    assert bool(cfg.logger) == (logger != "none")


def test_slurm_launcher_config_composes():
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "train_stylizer",
            ["class=ocean", "hydra/launcher=slurm", "trainer=ddp"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.accelerator == "gpu"


@pytest.mark.parametrize("name", PRIMARY_CONFIGS)
def test_every_command_carries_every_stage_node(name):
    """So one experiment preset, or one pipeline override, sizes every stage from any command."""
    cfg = compose_cfg(
        name, REQUIRED.get(name, []) + ["stylizer.max_steps=7", "classifier.epochs=3"]
    )
    for node in ("stylizer", "augment", "classifier", "report"):
        assert node in cfg
    assert cfg.stylizer.max_steps == 7 and cfg.classifier.epochs == 3


@pytest.mark.parametrize("name", PRIMARY_CONFIGS)
def test_paper_synthetic_is_the_papers_protocol_at_full_size_for_every_command(name):
    cfg = compose_cfg(name, REQUIRED.get(name, []) + ["experiment=paper_synthetic"])
    d, s, c = cfg.dataset, cfg.stylizer, cfg.classifier
    assert (d.name, d.image_size, d.train_per_class, d.test_per_class) == (
        "synthetic",
        256,
        5000,
        100,
    )
    assert d.scenario_scale == 1.0 and cfg.scenario.scale == 1.0
    assert (s.image_size, s.batch_size, s.epochs, s.lr, s.pool) == (256, 4, 2, 1e-3, "class")
    assert (s.content_weight, s.style_weight) == (1e5, 1e10)
    assert (c.epochs, c.batch_size, c.image_size, len(c.arms)) == (25, 50, 224, 4)
    for net in (cfg.model.loss_net, cfg.model.backbone):  # the paper's networks, timing only
        assert net.weights == "random" and net.arch in ("vgg16", "resnet18")
    assert list(cfg.augment.seeds) == [0, 1, 2, 3, 4] and cfg.trainer.accelerator == "gpu"


def test_demo_families_preset_names_every_family_and_keeps_the_demo_default():
    from stylaug.artifacts.style_families import STYLE_FAMILIES, sets_to_make

    cfg = compose_cfg("pipeline", ["experiment=demo_families"])
    assert {f for f, _ in sets_to_make(cfg.augment)} == set(STYLE_FAMILIES)
    assert cfg.pipeline.scenarios == cfg.augment.scenarios == ["biased_case1"]
    assert "randaugment+adain" in cfg.classifier.arms and "photoreal" not in cfg.classifier.arms
    plain = compose_cfg("pipeline", ["experiment=demo"])  # the demo still makes the paper's set
    assert sets_to_make(plain.augment) == [("johnson", 1.0)] and plain.augment.tag == "johnson"
    assert plain.pipeline.scenarios == ["balanced", "biased_case1", "biased_case2", "scarce"]


def test_demo_online_preset_fine_tunes_every_online_arm_and_trains_their_networks():
    from stylaug.pipeline import stages_to_run

    cfg = compose_cfg("pipeline", ["experiment=demo_online"])
    assert cfg.classifier.mode == "finetune" and cfg.pipeline.scenarios == [
        "biased_case1",
        "scarce",
    ]
    assert {"online_adain", "online_fda", "online_histogram_match", "mixstyle", "johnson"} <= set(
        cfg.classifier.arms
    )
    assert stages_to_run(cfg) == list(cfg.pipeline.stages)  # decoders for online_adain too
