"""train_stylizer: the Lightning module, the checkpoint format, resume/skip, weights, bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision import models

from stylaug.models.color import rgb_to_yiq
from stylaug.models.loss_net import LossNetwork, gram_matrix
from stylaug.models.stylizer import (
    StylizerCheckpointError,
    load_stylizer,
    save_stylizer,
    stylize_batch,
    stylizer_hash,
)
from stylaug.models.transformer_net import TransformerNet
from stylaug.models.weights import checkpoint_file
from stylaug.train_stylizer.stage import train_stylizer
from stylaug.train_stylizer.stylizer_training import StylizerTraining
from tests.conftest import TINY_DATASET, compose_cfg

REPO = Path(__file__).resolve().parents[2]


def stylizer_cfg(root, out_dir, *overrides):
    return compose_cfg(
        "train_stylizer",
        TINY_DATASET
        + [
            "stylizer.image_size=32",
            "stylizer.batch_size=4",
            "stylizer.max_steps=4",
            "stylizer.sample_images=4",
            "model.loss_net.weights=random",
            "logger=none",
            "data.num_workers=0",
            "+trainer.enable_progress_bar=false",
            f"stylizer.out_dir={out_dir}",
            *overrides,
        ],
        root,
    )


def test_module_shapes_grams_and_blended_style_loss_by_hand():
    torch.manual_seed(0)
    styles = [torch.rand(3, 32, 32), torch.rand(3, 32, 32)]
    loss_net = LossNetwork(["relu1_2", "relu2_2"], "vgg16", "random")
    module = StylizerTraining(
        TransformerNet(), loss_net, styles, [0.25, 0.75], ["relu2_2"], ["relu1_2", "relu2_2"]
    )
    assert module.net(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    for k, style in enumerate(styles):  # Grams computed once, from each style image
        feats = module.loss_net(style[None])
        for name in ("relu1_2", "relu2_2"):
            assert torch.allclose(module.style_grams(k)[name], gram_matrix(feats[name]))
    x = torch.rand(2, 3, 32, 32)
    losses = module.losses(x)
    with torch.no_grad():
        y = module.net(x)
        fy, fx = module.loss_net(y), module.loss_net(x)
        by_hand = sum(
            w
            * sum(
                F.mse_loss(gram_matrix(fy[n]), module.style_grams(k)[n].expand(2, -1, -1))
                for n in ("relu1_2", "relu2_2")
            )
            for k, w in enumerate([0.25, 0.75])
        )
        content = F.mse_loss(fy["relu2_2"], fx["relu2_2"])
    assert losses["style"].item() == pytest.approx(1e10 * by_hand.item(), rel=1e-4)
    assert losses["content"].item() == pytest.approx(1e5 * content.item(), rel=1e-4)
    assert losses["loss"].item() == pytest.approx(
        losses["style"].item() + losses["content"].item(), rel=1e-5
    )


def test_training_lowers_style_loss_writes_checkpoint_resumes_and_skips(tiny_root, tmp_path):
    out = tmp_path / "stylizers"
    path = train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "stylizer.max_steps=6"))
    net, meta = load_stylizer(path)
    assert path == out / "ocean" / f"{meta['list_id']}.ckpt"
    assert isinstance(net, TransformerNet)
    probe = meta["probe_losses"]
    assert probe["end"]["style"] < probe["initial"]["style"]  # training lowered the style loss
    assert meta["class"] == "ocean" and meta["dataset"] == "synthetic"
    assert meta["loss_net_weights"] == "vgg16:random-init"
    assert any("smoke" in n for n in meta["notes"])  # synthetic data, random-init loss net
    assert meta["steps"] == 6 and not meta["resumed"]
    assert meta["residual_blocks"] == 5 and meta["image_size"] == 32
    style = meta["style_images"][0]
    assert "/train/ocean/" in style["path"] and len(style["sha256"]) == 64
    assert (out / f"ocean/{meta['list_id']}_samples.png").is_file()
    work = out / "_train/ocean" / meta["list_id"]
    assert (work / "last.ckpt").is_file()

    # same settings: kept, not retrained
    before = (path.stat().st_mtime_ns, stylizer_hash(path))
    train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "stylizer.max_steps=6"))
    assert (path.stat().st_mtime_ns, stylizer_hash(path)) == before

    # longer run: resumes from last.ckpt and continues the step count
    train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "stylizer.max_steps=8"))
    _, meta2 = load_stylizer(path)
    assert meta2["steps"] == 8 and meta2["resumed"]
    last = torch.load(work / "last.ckpt", weights_only=False, map_location="cpu")
    assert last["global_step"] == 8

    # colour-preserving output keeps the content's chroma (YIQ I and Q); a few steps leave the
    # output near black (the reference's scale), so lift it to mid-grey to see the chroma
    with torch.no_grad():
        net.decoder[-1][-1].bias.fill_(127.5)
    content = 0.3 + 0.4 * torch.rand(2, 3, 32, 32)
    stylized = stylize_batch(net, content, preserve=True)
    inside = ((stylized > 0.001) & (stylized < 0.999)).all(dim=1, keepdim=True)
    diff = (rgb_to_yiq(stylized)[:, 1:] - rgb_to_yiq(content)[:, 1:]).abs()
    assert inside.float().mean() > 0.5
    assert diff[inside.expand_as(diff)].max() < 1e-4
    plain = stylize_batch(net, content, preserve=False)
    assert (rgb_to_yiq(plain)[:, 1:] - rgb_to_yiq(content)[:, 1:]).abs().mean() > 1e-3


def test_weights_come_from_a_state_dict_in_torch_home(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    file = checkpoint_file(models.VGG16_Weights.IMAGENET1K_V1)
    file.parent.mkdir(parents=True)
    torch.manual_seed(123)
    reference = models.vgg16(weights=None).state_dict()
    torch.save(reference, file)
    out = tmp_path / "stylizers"
    path = train_stylizer(
        stylizer_cfg(
            tiny_root,
            out,
            "class=desert_sand",
            "model.loss_net.weights=imagenet",
            "stylizer.max_steps=1",
        )
    )
    _, meta = load_stylizer(path)
    assert "IMAGENET1K_V1" in meta["loss_net_weights"] and file.name in meta["loss_net_weights"]
    work = out / "_train/desert_sand" / meta["list_id"]
    state = torch.load(work / "last.ckpt", weights_only=False)["state_dict"]
    for layer, part in ((0, "weight"), (21, "bias")):  # VGG16 features.0 and features.21
        key = f"features.{layer}.{part}"
        assert torch.equal(state[f"loss_net.stages.{layer}.{part}"], reference[key]), key


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["class=forest"], "unknown class 'forest'"),
        (["class=ocean", "stylizer.style_images=[/nowhere/style.jpg]"], "does not exist"),
        (["class=ocean", "stylizer.pool=everything"], "stylizer.pool='everything' is not valid"),
        (["class=ocean", "stylizer.style_blend=[1,2]"], "must give 1 non-negative weights"),
    ],
)
def test_bad_input_fails_before_training(tiny_root, tmp_path, overrides, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        train_stylizer(stylizer_cfg(tiny_root, tmp_path / "s", *overrides))
    assert not (tmp_path / "s").exists()  # nothing trained, nothing written


def test_unreadable_style_image_and_foreign_checkpoint_are_clear_errors(tiny_root, tmp_path):
    from stylaug.data.images import BadImageError

    bad = tmp_path / "style.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(BadImageError, match="style.jpg"):
        train_stylizer(
            stylizer_cfg(tiny_root, tmp_path / "s", "class=ocean", f"stylizer.style_images=[{bad}]")
        )
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(StylizerCheckpointError, match="not a stylaug stylizer checkpoint"):
        load_stylizer(tmp_path / "other.ckpt")
    save_stylizer(tmp_path / "ok.ckpt", TransformerNet(), {"residual_blocks": 5, "class": "ocean"})
    assert load_stylizer(tmp_path / "ok.ckpt")[1]["class"] == "ocean"


@pytest.mark.slow  # minutes; `make test-slow`
def test_multirun_over_two_classes_writes_two_checkpoints_and_two_wandb_runs(tiny_root, tmp_path):
    out = tmp_path / "stylizers"
    cmd = [
        sys.executable,
        "-m",
        "stylaug.train_stylizer",
        "-m",
        "class=ocean,hot_spring",
        *TINY_DATASET,
        f"dataset.dir={tiny_root}/data/synthetic",
        f"paths.root={tmp_path}",
        f"stylizer.out_dir={out}",
        "stylizer.image_size=32",
        "stylizer.max_steps=2",
        "stylizer.sample_images=2",
        "model.loss_net.weights=random",
        "data.num_workers=0",
        "logger=wandb",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    metas = {c: load_stylizer(next((out / c).glob("*.ckpt")))[1] for c in ("ocean", "hot_spring")}
    assert {m["class"] for m in metas.values()} == {"ocean", "hot_spring"}
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2  # one wandb run per class, not one merged run


def test_scenario_pool_trains_on_exactly_the_scenarios_training_images(
    tiny_root, tiny_index, tmp_path
):
    from stylaug.data.scenarios import sample_scenario

    out = tmp_path / "stylizers"
    paths = {}
    for scenario in ("balanced", "biased_case1", "scarce"):
        cfg = stylizer_cfg(tiny_root, out, "class=hot_spring", f"scenario={scenario}", "seed=1",
                           "stylizer.max_steps=1")  # fmt: skip
        paths[scenario] = train_stylizer(cfg)
        _, meta = load_stylizer(paths[scenario])
        split = sample_scenario(tiny_index, cfg.scenario, 1)
        assert meta["pool"] == "scenario"
        assert sorted(meta["train_list"]) == sorted(split.train["hot_spring"])  # nothing else
        assert not set(meta["train_list"]) & set(split.val["hot_spring"])
        style = meta["style_images"][0]["path"]
        assert any(style.endswith(r) for r in split.train["hot_spring"])  # style from the list
    assert len(set(paths.values())) == 3  # three distinct lists, three stylizers
    # a scenario with the same list as balanced (every class but the minority) shares its stylizer
    same = train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "scenario=balanced",
                                       "seed=1", "stylizer.max_steps=1"))  # fmt: skip
    mtime = same.stat().st_mtime_ns
    again = train_stylizer(stylizer_cfg(tiny_root, out, "class=ocean", "scenario=biased_case1",
                                        "seed=1", "stylizer.max_steps=1"))  # fmt: skip
    assert again == same and same.stat().st_mtime_ns == mtime

    # pool=class: the class's whole pool, one stylizer whatever the scenario or seed
    class_paths = {
        train_stylizer(stylizer_cfg(tiny_root, out, "class=hot_spring", f"scenario={sc}",
                                    f"seed={seed}", "stylizer.pool=class", "stylizer.max_steps=1"))
        for sc, seed in (("scarce", 0), ("balanced", 2))
    }  # fmt: skip
    assert len(class_paths) == 1
    _, meta = load_stylizer(class_paths.pop())
    assert meta["pool"] == "class"
    assert sorted(meta["train_list"]) == sorted(tiny_index.paths("train", "hot_spring"))


def test_training_length_rule_gives_small_lists_min_steps(tiny_root, tmp_path):
    from stylaug.core.resumable_training import planned_steps
    from stylaug.data.index import load_index
    from stylaug.train_stylizer.stage import StylizerPlan

    cfg = stylizer_cfg(tiny_root, tmp_path, "class=ocean", "scenario=scarce",
                       "stylizer.max_steps=-1", "stylizer.epochs=2", "stylizer.min_steps=50")  # fmt: skip
    plan = StylizerPlan(cfg, "ocean", load_index(cfg.dataset))
    assert len(plan.images) == 4 and plan.steps == 50  # 2 epochs of 4 images = 2 steps -> 50
    assert planned_steps(cfg.stylizer, 4000, 1) == 2000  # 2 epochs of 4000 images at batch 4
    assert planned_steps(cfg.stylizer, 4000, 2) == 1000  # two processes: each step sees 8 images
    cfg.stylizer.max_steps = 7
    assert planned_steps(cfg.stylizer, 4000, 1) == 7


def test_any_new_setting_changes_the_stylizer_identity(tiny_root, tmp_path):
    from omegaconf import OmegaConf

    from stylaug.data.index import load_index
    from stylaug.train_stylizer.stage import StylizerPlan

    cfg = stylizer_cfg(tiny_root, tmp_path, "class=ocean")
    index = load_index(cfg.dataset)
    base = StylizerPlan(cfg, "ocean", index).settings_hash
    for key, value in (
        ("stylizer.some_future_knob", 1),
        ("model.transformer.some_future_knob", 1),
        ("model.loss_net.some_future_knob", 1),
    ):
        changed = cfg.copy()
        OmegaConf.update(changed, key, value, force_add=True)
        assert StylizerPlan(changed, "ocean", index).settings_hash != base, key
    for key, value in (("stylizer.force", True), ("stylizer.checkpoint_every", 3),
                       ("model.backbone.arch", "efficientnet_lite0")):  # fmt: skip
        same = cfg.copy()
        OmegaConf.update(same, key, value)
        assert StylizerPlan(same, "ocean", index).settings_hash == base, key
    two = cfg.copy()
    OmegaConf.update(two, "trainer.devices", 2)
    plan2 = StylizerPlan(two, "ocean", index)
    assert plan2.settings_hash != base and plan2.settings["effective_batch"] == 8


def test_an_old_format_checkpoint_says_retrain(tmp_path):
    torch.save(
        {"format": "stylaug.stylizer/1", "state_dict": {}, "metadata": {}}, tmp_path / "o.ckpt"
    )
    with pytest.raises(StylizerCheckpointError, match="Retrain it"):
        load_stylizer(tmp_path / "o.ckpt")


@pytest.mark.slow  # minutes; `make test-slow`
def test_train_many_trains_each_distinct_list_once(tiny_root, tmp_path):
    from hydra import initialize_config_dir

    from stylaug.train_stylizer.group_training import train_many
    from tests.conftest import CONF_DIR

    base = [*TINY_DATASET, f"paths.root={tiny_root}", "stylizer.image_size=32",
            "stylizer.batch_size=2", "stylizer.max_steps=2", "stylizer.sample_images=2",
            "model.loss_net.weights=random", "logger=none", "data.num_workers=0",
            f"stylizer.out_dir={tmp_path / 's'}"]  # fmt: skip
    jobs = [
        base + [f"class={cls}", f"scenario={scenario}", "seed=0"]
        for scenario in ("balanced", "biased_case1")
        for cls in ("ocean", "hot_spring")
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        paths = train_many(jobs, group_size=0)  # random loss nets: each trains alone
        # ocean's balanced and biased_case1 lists are the same list: three stylizers, not four
        assert len(paths) == len(set(paths)) == 3
        assert sorted(p.parent.name for p in paths) == ["hot_spring", "hot_spring", "ocean"]
        metas = [load_stylizer(p)[1] for p in paths]
        assert all(m["steps"] == 2 for m in metas)
        mtimes = [p.stat().st_mtime_ns for p in paths]
        train_many(jobs, group_size=0)  # finished: kept, not retrained
        assert [p.stat().st_mtime_ns for p in paths] == mtimes
