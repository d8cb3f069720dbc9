"""Every stage killed (SIGKILL) or stopped (SIGTERM) at a random point, then run again: the rerun
ends in exactly what an undisturbed run makes - no lost, duplicated or different result, no temp
file left. The kill points are drawn from a seeded generator, so a failure reproduces.

Slow (a fresh interpreter per kill): ``make test-slow``."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stylaug.augment.stage import augment
from stylaug.classify.stage import classify
from stylaug.core.io import read_jsonl
from stylaug.models.adain import load_decoder
from stylaug.models.stylizer import load_stylizer
from stylaug.prepare_data.stage import prepare_data
from stylaug.report.stage import report
from stylaug.train_decoder.stage import train_decoder
from stylaug.train_stylizer.stage import train_stylizer
from tests.augment.test_augment import save_fake_stylizers
from tests.conftest import TINY_DATASET, compose_cfg

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SIGNALS = [signal.SIGKILL, signal.SIGTERM]
# 0: it had finished; -15: the signal came before the command's handler was in place
STOPPED = {signal.SIGKILL: {0, -9}, signal.SIGTERM: {0, -15, 143}}


def kill_at_random(name, overrides, started, finished, signum, max_delay, tmp_path) -> int:
    """Run ``python -m stylaug.<name> OVERRIDES``; once ``started()``, wait a seeded random time
    up to ``max_delay`` s and send ``signum``. A status 0 must mean ``finished()``: the stage
    really made everything. Returns the exit status."""
    delay = random.Random(f"{name}-{int(signum)}").uniform(0, max_delay)
    log = tmp_path / f"{name}-{int(signum)}.log"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", f"stylaug.{name}", *overrides], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.time() + 600
        while not started() and proc.poll() is None:
            assert time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        time.sleep(delay)
        proc.send_signal(signum)
        code = proc.wait(timeout=600)
    print(f"{name} {signal.Signals(signum).name} after {delay:.2f} s: exit {code}")
    assert code in STOPPED[signum], log.read_text()[-3000:]
    assert code != 0 or finished(), f"exit 0 without its output:\n{log.read_text()[-3000:]}"
    if code == 143:
        assert "rerun the same command to resume" in log.read_text()
    return code


def no_temp_files(folder: Path, signum) -> bool:
    """No temp file of an interrupted write is left - after SIGTERM, which lets writes clean up.
    (SIGKILL may leave one: hidden, ``.<name>.<random>.tmp<suffix>``, never read as a result.)"""
    return signum == signal.SIGKILL or not list(folder.rglob(".*tmp*"))


def same_files(a: Path, b: Path, pattern: str) -> bool:
    files = sorted(p.relative_to(a) for p in a.glob(pattern) if p.is_file())
    other = sorted(p.relative_to(b) for p in b.glob(pattern) if p.is_file())
    return files == other and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_prepare_data(tiny_root, tmp_path, signum):
    run = [*TINY_DATASET, f"paths.root={tmp_path}"]
    data = tmp_path / "data/synthetic"
    done = (data / "index.json").exists
    kill_at_random("prepare_data", run, data.exists, done, signum, 3.0, tmp_path)
    prepare_data(compose_cfg("prepare_data", run))
    reference = tiny_root / "data/synthetic"
    assert same_files(reference, data, "*/*/*.png") and same_files(reference, data, "index.json")
    assert no_temp_files(data, signum)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_train_stylizer(tiny_root, tmp_path, signum):
    out = tmp_path / "stylizers"
    run = [*TINY_DATASET, f"paths.root={tmp_path}", f"dataset.dir={tiny_root}/data/synthetic",
           "class=ocean", f"stylizer.out_dir={out}", "stylizer.image_size=32",
           "stylizer.max_steps=40", "stylizer.checkpoint_every=5", "model.loss_net.weights=random",
           "data.num_workers=0", "logger=none"]  # fmt: skip
    done = lambda: any((out / "ocean").glob("*.ckpt"))  # noqa: E731
    kill_at_random("train_stylizer", run, (out / "_train").exists, done, signum, 8.0, tmp_path)
    path = train_stylizer(compose_cfg("train_stylizer", run))
    _, meta = load_stylizer(path)  # its weights match their digest
    assert meta["steps"] == 40 and no_temp_files(out, signum)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_train_decoder(tiny_root, tmp_path, signum):
    out = tmp_path / "decoders"
    run = [*TINY_DATASET, f"paths.root={tmp_path}", f"dataset.dir={tiny_root}/data/synthetic",
           "scenario=scarce", "model.loss_net.arch=efficientnet_lite0", f"decoder.out_dir={out}",
           "decoder.image_size=32", "decoder.batch_size=4", "decoder.max_steps=30",
           "decoder.checkpoint_every=5", "data.num_workers=0", "logger=none"]  # fmt: skip
    done = lambda: any(out.glob("*.ckpt"))  # noqa: E731
    kill_at_random("train_decoder", run, (out / "_train").exists, done, signum, 8.0, tmp_path)
    _, meta = load_decoder(train_decoder(compose_cfg("train_decoder", run)))
    assert meta["steps"] == 30 and no_temp_files(out, signum)


@pytest.fixture(scope="module")
def made(tiny_root, tiny_index, tmp_path_factory):
    """Undisturbed references: fake stylizers, their stylized set, classify rows and a report."""
    folder = tmp_path_factory.mktemp("reference")
    run = augment_run(tiny_root, folder, folder / "aug")
    save_fake_stylizers(folder / "stylizers", tiny_index, compose_cfg("augment", run))
    augment(compose_cfg("augment", run))
    rows = classify(compose_cfg("classify", classify_run(tiny_root, folder, folder)))
    report(compose_cfg("report", report_run(folder, folder)))
    return folder, rows


def augment_run(tiny_root, folder, out):
    return [*TINY_DATASET, f"paths.root={out.parent}", f"dataset.dir={tiny_root}/data/synthetic",
            f"augment.stylizer_dir={folder}/stylizers", "augment.scenarios=[scarce]",
            f"augment.out_dir={out}", "augment.batch_size=2", "data.num_workers=0",
            "logger=none"]  # fmt: skip


def classify_run(tiny_root, folder, out):
    return [*TINY_DATASET, f"paths.root={out}", f"dataset.dir={tiny_root}/data/synthetic",
            "scenario=scarce", "classifier.controls=false", f"classifier.augmented_dir={folder}/aug", "classifier.epochs=3",
            "classifier.image_size=32", "classifier.batch_size=8", "classifier.num_workers=0",
            "model.backbone.weights=random", "logger=none"]  # fmt: skip


def report_run(results, out):
    return [f"report.results_file={results}/results/results.jsonl", f"report.out_dir={out}",
            f"paths.root={out}", "report.bootstrap=200", "logger=none"]  # fmt: skip


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_augment(tiny_root, made, tmp_path, signum):
    folder, _ = made
    run = augment_run(tiny_root, folder, tmp_path / "aug")
    started = (tmp_path / "aug/manifest.jsonl").exists
    done = (tmp_path / "aug/info.json").exists
    kill_at_random("augment", run, started, done, signum, 2.0, tmp_path)
    augment(compose_cfg("augment", run))
    assert same_files(folder / "aug", tmp_path / "aug", "*/*/*")
    assert len(read_jsonl(tmp_path / "aug/manifest.jsonl")) == 20 and no_temp_files(
        tmp_path, signum
    )


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_classify(tiny_root, made, tmp_path, signum):
    folder, reference = made
    run = classify_run(tiny_root, folder, tmp_path)
    results = tmp_path / "results/results.jsonl"
    done = lambda: len(read_jsonl(results)) == 2  # noqa: E731
    kill_at_random("classify", run, (tmp_path / "artifacts").exists, done, signum, 4.0, tmp_path)
    classify(compose_cfg("classify", run))
    rows = read_jsonl(tmp_path / "results/results.jsonl")
    assert [r["arm"] for r in rows] == ["none", "style"]  # each once
    for row, ref in zip(rows, reference, strict=True):
        assert row["metrics"] == ref["metrics"] and row["predictions"] == ref["predictions"]
    assert no_temp_files(tmp_path, signum)


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
def test_report(made, tmp_path, signum):
    folder, _ = made
    run = report_run(folder, tmp_path)
    done = (tmp_path / "report.html").exists
    kill_at_random("report", run, lambda: True, done, signum, 15.0, tmp_path)
    report(compose_cfg("report", run))
    assert same_files(folder, tmp_path, "report*.csv") and no_temp_files(tmp_path, signum)
