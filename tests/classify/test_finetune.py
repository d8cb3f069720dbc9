"""classifier.mode=finetune and the online arms, through the real classify entry on tiny data: rows
carry mode, family, p, alpha and cost; a killed fine-tune resumes to the uninterrupted result; the
linear probe's identity is unchanged; the report never puts two modes in one table."""

import pytest
import pytorch_lightning as pl
import torch

from stylaug.classify import finetune
from stylaug.classify.finetune import FineTuner, trained_blocks
from stylaug.classify.stage import classify, config_hash, setup_payload
from stylaug.core.io import read_jsonl
from stylaug.data.index import load_index
from stylaug.models.backbone import Backbone
from stylaug.report.summary import summarize
from stylaug.report.tables import setups
from tests.conftest import TINY_DATASET, compose_cfg

FAST = ["model.backbone.arch=efficientnet_lite0", "model.backbone.weights=random",
        "classifier.epochs=2", "classifier.image_size=32", "classifier.num_workers=0",
        "logger=none", "scenario=scarce", "trainer.accelerator=cpu"]  # fmt: skip
FINETUNE = ["classifier.mode=finetune", "classifier.finetune.trainable_blocks=2"]


def cfg_for(root, tmp_path, *extra):
    return compose_cfg(
        "classify",
        [*TINY_DATASET, *FAST, f"classifier.results_file={tmp_path}/results.jsonl",
         f"classifier.cache_dir={tmp_path}/features",
         f"classifier.finetune.checkpoint_dir={tmp_path}/finetune", *extra],
        root,
    )  # fmt: skip


def test_trainable_blocks_are_the_last_k():
    backbone = Backbone("resnet18", "random")
    assert trained_blocks(backbone, 0) == []
    assert trained_blocks(backbone, 1) == [backbone.net.layer4]
    assert len(trained_blocks(backbone, "all")) == 6  # conv1, bn1, layer1..4
    with pytest.raises(ValueError, match="trainable_blocks"):
        trained_blocks(backbone, 9)


def test_finetune_trains_only_the_chosen_blocks_and_the_head():
    backbone = Backbone("resnet18", "random")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    module = FineTuner(backbone, 4, 1e-2, 1e-2, 0.0, 1, seed=0)
    opt = module.configure_optimizers()
    module.on_train_epoch_start()
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    torch.nn.functional.cross_entropy(module(x), y).backward()
    opt.step()
    after = backbone.state_dict()
    changed = {k.split(".")[1] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"layer4"}  # frozen blocks: weights and batch-norm statistics unmoved


def test_linear_probe_identity_is_unchanged_by_the_mode_keys(tiny_root, tmp_path):
    """Rows made before classifier.mode existed keep their hashes: the default mode, the
    fine-tune and online settings stay out of the linear probe's identity."""
    index = load_index(cfg_for(tiny_root, tmp_path).dataset)
    plain = cfg_for(tiny_root, tmp_path)
    tuned = cfg_for(tiny_root, tmp_path, "classifier.online.p=0.9", "classifier.finetune.lr=1")
    assert config_hash(plain, index, "none", None) == config_hash(tuned, index, "none", None)
    payload = setup_payload(plain, index)
    assert "mode" not in payload and "online" not in payload["classifier"]
    ft = cfg_for(tiny_root, tmp_path, *FINETUNE)
    assert config_hash(ft, index, "none", None) != config_hash(plain, index, "none", None)
    online = config_hash(plain, index, "online_fda", None)
    assert online != config_hash(tuned, index, "online_fda", None)  # p is its identity


def test_finetune_and_online_rows_carry_mode_family_p_alpha_and_cost(tiny_root, tmp_path):
    arms = "classifier.arms=[online_fda,online_histogram_match,mixstyle]"
    rows = {r["arm"]: r for r in classify(cfg_for(tiny_root, tmp_path, *FINETUNE, arms))}
    assert set(rows) == {"none", "online_fda", "online_histogram_match", "mixstyle"}  # + control
    n_train = rows["none"]["counts"]["train_seen"]
    for arm, family in [("online_fda", "fda"), ("online_histogram_match", "histogram_match"),
                        ("mixstyle", "mixstyle")]:  # fmt: skip
        row = rows[arm]
        assert row["mode"] == "finetune" and row["online"]["family"] == family
        assert row["online"]["p"] == 0.5
        assert row["online"]["alpha"] == (0.1 if family == "mixstyle" else 1.0)
        assert row["cost"]["seconds"] > 0 and row["cost"]["steps"] == rows["none"]["cost"]["steps"]
        assert row["counts"]["train_seen"] == n_train  # same images, epochs and steps as none
        assert row["finetune"]["trainable_blocks"] == "2"
    assert rows["none"]["online"] is None and rows["none"]["feature_cache"]["used"] is False
    # the style step is the only difference: the control's predictions differ from an online arm's
    # head only through it (same init, order and steps), and the report pairs them
    lines = {x["arm"]: x for x in summarize(list(rows.values()))}
    assert lines["online_fda"]["mode"] == "finetune" and "none" in lines["online_fda"]["seed_ci"]
    assert "FINE-TUNED" in lines["online_fda"]["source"]


def test_online_arm_in_linear_probe_turns_the_cache_off_for_that_arm_only(tiny_root, tmp_path):
    rows = {r["arm"]: r for r in classify(
        cfg_for(tiny_root, tmp_path, "classifier.arms=[none,online_fda]", "classifier.online.p=0")
    )}  # fmt: skip
    assert rows["none"]["feature_cache"]["used"] and not rows["online_fda"]["feature_cache"]["used"]
    assert rows["online_fda"]["mode"] == rows["none"]["mode"] == "linear_probe"
    assert any("feature cache is off" in n for n in rows["online_fda"]["notes"])
    assert rows["online_fda"]["finetune"]["trainable_parameters"] == 4 * (1280 + 1)  # head only
    # p=0: the frozen backbone on images is the same function as on cached features
    same = sum(a == b for a, b in zip(rows["none"]["predictions"],
                                      rows["online_fda"]["predictions"], strict=True))  # fmt: skip
    assert same >= 0.9 * len(rows["none"]["predictions"])


def test_report_never_mixes_modes_in_one_table(tiny_root, tmp_path):
    classify(cfg_for(tiny_root, tmp_path, "classifier.arms=[none]"))
    classify(cfg_for(tiny_root, tmp_path, "classifier.arms=[none]", *FINETUNE))
    summary = summarize(read_jsonl(tmp_path / "results.jsonl"))
    assert sorted(s["mode"] for s in summary) == ["finetune", "linear_probe"]
    for lines in setups(summary).values():
        assert len({s["mode"] for s in lines}) == 1
    assert len(setups(summary)) == 2


class Kill(pl.Callback):
    """Stop the run like a kill early in the epoch after ``epochs`` finished ones (their
    checkpoint written at each epoch's end)."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.current_epoch >= self.epochs:
            raise KeyboardInterrupt


@pytest.mark.slow  # 34 s on the shared 2-core CPU (three short fits)
def test_finetune_resumes_after_a_kill_to_the_uninterrupted_result(
    tiny_root, tmp_path, monkeypatch
):
    extra = [*FINETUNE, "classifier.arms=[online_fda]", "classifier.controls=false",
             "classifier.epochs=3", "classifier.finetune.keep_checkpoints=true"]  # fmt: skip
    whole = classify(cfg_for(tiny_root, tmp_path / "whole", *extra))[0]
    monkeypatch.setattr(finetune, "extra_callbacks", lambda: [Kill(2)])
    killed = tmp_path / "killed"
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        classify(cfg_for(tiny_root, killed, *extra))
    assert not read_jsonl(killed / "results.jsonl")  # no row from a killed run
    (last,) = (killed / "finetune").glob("*/last.ckpt")
    assert torch.load(last, weights_only=False)["epoch"] == 1  # epochs 0 and 1 done
    monkeypatch.setattr(finetune, "extra_callbacks", lambda: [])
    resumed = classify(cfg_for(tiny_root, killed, *extra))[0]
    assert resumed["finetune"]["resumed"] and not whole["finetune"]["resumed"]
    assert resumed["val_history"] == whole["val_history"]
    assert resumed["predictions"] == whole["predictions"]
    assert resumed["cost"]["steps"] == whole["cost"]["steps"]
    final = [torch.load(next((d / "finetune").glob("*/last.ckpt")), weights_only=False)
             for d in (tmp_path / "whole", killed)]  # fmt: skip
    for key, value in final[0]["state_dict"].items():
        assert torch.equal(value, final[1]["state_dict"][key]), key
