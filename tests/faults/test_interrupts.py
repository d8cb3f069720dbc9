"""SIGTERM (a scheduler's pre-emption) and SIGINT (Ctrl+C) in the middle of every long stage: the
stage stops at the end of a step, saves, says "interrupted at step N of M ... rerun the same
command to resume", exits 143 or 130, and the rerun finishes exactly what an uninterrupted run
makes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stylaug.artifacts.manifest import MANIFEST
from stylaug.augment import manifest_writer
from stylaug.augment.stage import augment
from stylaug.classify import features
from stylaug.classify.stage import classify
from stylaug.core.io import read_jsonl
from stylaug.models.stylizer import load_stylizer
from stylaug.train_stylizer.stage import train_stylizer
from stylaug.train_stylizer.stylizer_training import StylizerTraining
from tests.conftest import TINY_DATASET, compose_cfg
from tests.faults.test_damaged_files import augment_cfg, augmented, classify_cfg
from tests.train_stylizer.test_train_stylizer import stylizer_cfg

REPO = Path(__file__).resolve().parents[2]
CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


def send_once(signum):
    """A function that sends ``signum`` to this process the first time it is called."""
    sent = []

    def send():
        if not sent:
            sent.append(signum)
            os.kill(os.getpid(), signum)

    return send


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_train_stylizer_stops_at_the_step_saves_exits_143_or_130_and_resumes(
    tiny_root, tmp_path, monkeypatch, caplog, signum
):
    send, step = send_once(signum), StylizerTraining.training_step

    def training_step(self, batch, batch_idx):
        out = step(self, batch, batch_idx)
        if self.global_step == 2:  # during the third step
            send()
        return out

    monkeypatch.setattr(StylizerTraining, "training_step", training_step)
    handlers = {s: signal.getsignal(s) for s in CODES}
    out = tmp_path / "stylizers"
    cfg = stylizer_cfg(tiny_root, out, "class=ocean", "stylizer.max_steps=6",
                       "stylizer.checkpoint_every=100")  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        train_stylizer(cfg)
    assert stopped.value.code == CODES[signum]
    (work,) = (out / "_train/ocean").iterdir()
    assert torch.load(work / "last.ckpt", weights_only=False)["global_step"] == 3
    assert "interrupted at step 3 of 6" in caplog.text and "rerun the same command" in caplog.text
    assert not list((out / "ocean").glob("*.ckpt"))  # no finished stylizer claimed
    assert {s: signal.getsignal(s) for s in CODES} == handlers  # the usual handlers again
    path = train_stylizer(cfg)
    _, meta = load_stylizer(path)
    assert meta["steps"] == 6 and meta["resumed"]


def test_train_decoder_stops_on_sigterm_and_resumes(tiny_root, tmp_path, monkeypatch, caplog):
    from stylaug.models.adain import load_decoder
    from stylaug.train_decoder.decoder_training import AdaINTraining
    from stylaug.train_decoder.stage import train_decoder

    send, step = send_once(signal.SIGTERM), AdaINTraining.training_step

    def training_step(self, batch, batch_idx):
        out = step(self, batch, batch_idx)
        if self.global_step == 1:
            send()
        return out

    monkeypatch.setattr(AdaINTraining, "training_step", training_step)
    cfg = compose_cfg("train_decoder", [
        *TINY_DATASET, "model.loss_net.arch=efficientnet_lite0", "decoder.image_size=32",
        "decoder.batch_size=4", "decoder.max_steps=4", "decoder.sample_images=2",
        f"decoder.out_dir={tmp_path}/decoders", "scenario=scarce", "data.num_workers=0",
        "logger=none", "+trainer.enable_progress_bar=false"], tiny_root)  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        train_decoder(cfg)
    assert stopped.value.code == 143 and "decoder" in caplog.text
    assert "interrupted at step 2 of 4" in caplog.text
    _, meta = load_decoder(train_decoder(cfg))
    assert meta["steps"] == 4 and meta["resumed"]


def test_augment_stops_after_the_batch_keeps_its_images_and_the_rerun_completes_the_set(
    tiny_root, tiny_index, tmp_path, monkeypatch, caplog
):
    augmented(tiny_root, tiny_index, tmp_path / "ref", "augment.batch_size=4")
    send, write = send_once(signal.SIGTERM), manifest_writer.ManifestWriter.write_on_batch_end

    def write_on_batch_end(self, *args, **kwargs):
        write(self, *args, **kwargs)
        send()

    monkeypatch.setattr(manifest_writer.ManifestWriter, "write_on_batch_end", write_on_batch_end)
    cfg = augment_cfg(tiny_root, tmp_path / "ref", "augment.batch_size=4",
                      f"augment.out_dir={tmp_path}/aug")  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        augment(cfg)
    assert stopped.value.code == 143 and "interrupted after batch 1 of 5" in caplog.text
    assert len(read_jsonl(tmp_path / "aug" / MANIFEST)) == 4  # the finished batch is kept
    summary = augment(cfg)
    assert summary["skipped"] == 4 and summary["written"] == 16
    ref, out = tmp_path / "ref/aug", tmp_path / "aug"
    files = sorted(p.relative_to(ref) for p in ref.glob("*/*/*"))
    assert files == sorted(p.relative_to(out) for p in out.glob("*/*/*"))
    assert all((ref / f).read_bytes() == (out / f).read_bytes() for f in files)


def test_classify_stops_in_feature_extraction_and_the_rerun_gives_the_same_rows(
    tiny_root, tmp_path, monkeypatch, caplog
):
    (reference,) = classify(classify_cfg(tiny_root, tmp_path / "ref"))
    send, predict = send_once(signal.SIGTERM), features.FeatureExtractor.predict_step

    def predict_step(self, batch, batch_idx):
        send()
        return predict(self, batch, batch_idx)

    monkeypatch.setattr(features.FeatureExtractor, "predict_step", predict_step)
    cfg = classify_cfg(tiny_root, tmp_path)
    with pytest.raises(SystemExit) as stopped:
        classify(cfg)
    assert stopped.value.code == 143 and "interrupted after batch 1 of" in caplog.text
    assert read_jsonl(tmp_path / "results.jsonl") == []
    (row,) = classify(cfg)
    assert row["metrics"] == reference["metrics"] and row["predictions"] == reference["predictions"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_command_exits_143_or_130_says_where_it_stopped_and_the_rerun_resumes(
    tiny_root, tmp_path, signum
):
    out = tmp_path / "stylizers"

    def command(steps: int) -> list[str]:
        return [sys.executable, "-m", "stylaug.train_stylizer", "class=ocean", *TINY_DATASET,
                f"paths.root={tmp_path}", f"dataset.dir={tiny_root}/data/synthetic",
                f"stylizer.out_dir={out}", "stylizer.image_size=32", f"stylizer.max_steps={steps}",
                "stylizer.checkpoint_every=1", "model.loss_net.weights=random",
                "data.num_workers=0", "logger=none"]  # fmt: skip

    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(command(400), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.time() + 300
    while not list(out.glob("_train/ocean/*/last.ckpt")):  # training has started
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.2)
    proc.send_signal(signum)
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == CODES[signum], log[-3000:]
    assert "interrupted at step" in log and "rerun the same command to resume" in log
    (last,) = out.glob("_train/ocean/*/last.ckpt")
    stopped_at = torch.load(last, weights_only=False)["global_step"]
    assert 0 < stopped_at < 400
    done = subprocess.run(command(stopped_at + 2), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    _, meta = load_stylizer(next((out / "ocean").glob("*.ckpt")))
    assert meta["resumed"] and meta["steps"] == stopped_at + 2
