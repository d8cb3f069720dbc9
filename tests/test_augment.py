"""augment: counts, manifest <-> files, sources inside the scenario's training lists, resume after
SIGKILL, exactly once on two ddp_spawn processes, clear errors."""

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylaug.augment import MANIFEST, augment, plan_jobs, scenario_configs
from stylaug.data.scenarios import sample_scenario
from stylaug.io import read_jsonl
from stylaug.models.transformer_net import TransformerNet
from stylaug.stylizer import save_stylizer, stylizer_hash
from tests.conftest import TINY_DATASET, compose_cfg

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["desert_sand", "hot_spring", "ocean", "skyscraper"]


@pytest.fixture(scope="module")
def stylizer_dir(tmp_path_factory):
    """Untrained (seeded) stylizers in the checkpoint format train_stylizer writes: fast."""
    folder = tmp_path_factory.mktemp("stylizers")
    for k, cls in enumerate(CLASSES):
        torch.manual_seed(k)
        meta = {"class": cls, "dataset": "synthetic", "residual_blocks": 5,
                "loss_net_weights": "vgg16:random-init", "preserve_color": False}  # fmt: skip
        save_stylizer(folder / f"{cls}.ckpt", TransformerNet(), meta)
    return folder


def overrides(stylizer_dir, out_dir, *extra):
    return [
        *TINY_DATASET,
        f"augment.stylizer_dir={stylizer_dir}",
        f"augment.out_dir={out_dir}",
        "augment.batch_size=8",
        "data.num_workers=0",
        "logger=none",
        *extra,
    ]


def augment_cfg(root, stylizer_dir, out_dir, *extra):
    return compose_cfg("augment", overrides(stylizer_dir, out_dir, *extra), root)


def expected_pairs(index, cfg, seeds):
    pairs = collections.defaultdict(set)
    for seed in seeds:
        for scenario in scenario_configs(cfg):
            for cls, items in sample_scenario(index, scenario, seed).augment.items():
                pairs[cls] |= set(items)
    return pairs


def check_one_to_one(out_dir):
    rows = read_jsonl(out_dir / MANIFEST)
    outputs = [r["output"] for r in rows]
    assert len(outputs) == len(set(outputs))  # no image twice
    assert len({(r["source"], r["view"]) for r in rows}) == len(rows)
    files = {p.relative_to(out_dir).as_posix() for p in out_dir.glob("*/*") if p.is_file()}
    assert files == set(outputs)  # every file has its line, every line its file; no temp files
    return rows


def test_counts_manifest_and_sources(tiny_root, tiny_index, stylizer_dir, tmp_path):
    out = tmp_path / "aug"
    cfg = augment_cfg(tiny_root, stylizer_dir, out, "augment.seeds=[0,1]")
    summary = augment(cfg)
    rows = check_one_to_one(out)
    want = expected_pairs(tiny_index, cfg, [0, 1])
    got = collections.defaultdict(set)
    for r in rows:
        assert set(r) >= {"source", "view", "class", "stylizer", "output"}
        assert r["stylizer"] == stylizer_hash(stylizer_dir / f"{r['class']}.ckpt")
        got[r["class"]].add((r["source"], r["view"]))
    assert got == want  # exactly the union over scenarios and seeds, per class
    assert summary["written"] == len(rows) == summary["planned"] and summary["failed"] == 0
    for seed in (0, 1):  # classify's lookups all succeed, and sources stay in the training lists
        for scenario in scenario_configs(cfg):
            split = sample_scenario(tiny_index, scenario, seed)
            for cls, items in split.augment.items():
                assert set(items) <= got[cls]
                assert {s for s, _ in items} <= set(split.train[cls])
                assert not {s for s, _ in items} & set(split.test[cls])
    with Image.open(out / rows[0]["output"]) as img:
        assert img.size == (32, 32) and img.mode == "RGB"
    mirrored = [r for r in rows if r["view"] == 1]
    assert mirrored  # the scarce scenario needs mirrored second views
    assert (out / "samples.png").is_file() and (out / "info.json").is_file()

    # a rerun does nothing but tidy up: a torn manifest line, an orphan file, a temp file
    with open(out / MANIFEST, "a") as f:
        f.write('{"source": "train/oce')
    (out / "ocean/orphan-v0.png").write_bytes(b"x")
    (out / "ocean/.partial.tmp.png").write_bytes(b"")
    again = augment(cfg)
    assert again["written"] == 0 and again["skipped"] == summary["planned"]
    assert len(check_one_to_one(out)) == len(rows)
    # a per-class cap and a class subset are honoured
    capped = tmp_path / "capped"
    augment(augment_cfg(tiny_root, stylizer_dir, capped, "augment.max_per_class=3",
                        "augment.classes=[ocean,hot_spring]"))  # fmt: skip
    counts = collections.Counter(r["class"] for r in check_one_to_one(capped))
    assert counts == {"ocean": 3, "hot_spring": 3}


def test_view_one_is_the_mirrored_source(tiny_root, stylizer_dir, tmp_path):
    out = tmp_path / "aug"
    augment(augment_cfg(tiny_root, stylizer_dir, out, "augment.scenarios=[scarce]",
                        "augment.classes=[ocean]"))  # fmt: skip
    rows = {(r["source"], r["view"]): r for r in read_jsonl(out / MANIFEST)}
    source = next(s for s, v in rows if v == 1)
    a = np.asarray(Image.open(out / rows[(source, 0)]["output"]), dtype=float)
    b = np.asarray(Image.open(out / rows[(source, 1)]["output"]), dtype=float)
    assert not np.allclose(a, b)
    # stylizing a mirrored image ~ mirroring the stylized image (the net is nearly equivariant)
    assert np.abs(a[:, ::-1] - b).mean() < np.abs(a - b).mean()


def test_missing_checkpoint_names_file_and_command(tiny_root, stylizer_dir, tmp_path):
    partial = tmp_path / "stylizers"
    partial.mkdir()
    for cls in ("desert_sand", "ocean"):
        (partial / f"{cls}.ckpt").write_bytes((stylizer_dir / f"{cls}.ckpt").read_bytes())
    with pytest.raises(FileNotFoundError) as err:
        augment(augment_cfg(tiny_root, partial, tmp_path / "aug"))
    msg = str(err.value)
    assert str(partial / "hot_spring.ckpt") in msg and str(partial / "skyscraper.ckpt") in msg
    assert "python -m stylaug.train_stylizer -m class=hot_spring,skyscraper" in msg
    assert not (tmp_path / "aug").exists()


def test_changed_stylizer_regenerates_its_class_only(tiny_root, stylizer_dir, tmp_path):
    mine = tmp_path / "stylizers"
    mine.mkdir()
    for cls in CLASSES:
        (mine / f"{cls}.ckpt").write_bytes((stylizer_dir / f"{cls}.ckpt").read_bytes())
    out = tmp_path / "aug"
    cfg = augment_cfg(tiny_root, mine, out, "augment.scenarios=[scarce]")
    first = augment(cfg)
    torch.manual_seed(99)
    save_stylizer(mine / "ocean.ckpt", TransformerNet(),
                  {"class": "ocean", "dataset": "synthetic", "residual_blocks": 5})  # fmt: skip
    second = augment(cfg)
    n_ocean = sum(r["class"] == "ocean" for r in read_jsonl(out / MANIFEST))
    assert second["written"] == n_ocean and second["skipped"] == first["planned"] - n_ocean
    new_hash = stylizer_hash(mine / "ocean.ckpt")
    rows = check_one_to_one(out)
    assert all(r["stylizer"] == new_hash for r in rows if r["class"] == "ocean")


def test_sigkill_halfway_then_rerun_gives_a_complete_duplicate_free_set(
    tiny_root, stylizer_dir, tmp_path
):
    out = tmp_path / "aug"
    args = overrides(stylizer_dir, out, "augment.batch_size=2", f"paths.root={tiny_root}")
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests/augment_worker.py"), "0.05", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while len(read_jsonl(out / MANIFEST)) < 10:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "worker made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    partial = len(read_jsonl(out / MANIFEST))
    cfg = compose_cfg("augment", args)
    summary = augment(cfg)
    assert 10 <= partial < summary["planned"]  # it really was killed halfway
    rows = check_one_to_one(out)
    assert len(rows) == summary["planned"] and summary["failed"] == 0
    assert summary["skipped"] >= partial - 2  # finished images were kept, not redone
    assert not list(out.rglob(".*tmp*"))


def test_two_ddp_spawn_processes_write_every_image_exactly_once(tiny_root, stylizer_dir, tmp_path):
    out = tmp_path / "aug"
    cmd = [
        sys.executable,
        "-m",
        "stylaug.augment",
        *overrides(
            stylizer_dir, out, "augment.scenarios=[scarce]", "augment.classes=[ocean,hot_spring]"
        ),
        f"paths.root={tiny_root}",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp_spawn",
    ]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = check_one_to_one(out)
    cfg = augment_cfg(
        tiny_root,
        stylizer_dir,
        out,
        "augment.scenarios=[scarce]",
        "augment.classes=[ocean,hot_spring]",
    )
    from stylaug.data.index import load_index

    plan = plan_jobs(load_index(cfg.dataset), cfg)
    assert {r["output"] for r in rows} == {j.output for v in plan.values() for j in v}
    by_rank = collections.Counter(r["rank"] for r in rows)
    assert set(by_rank) == {0, 1} and abs(by_rank[0] - by_rank[1]) <= 1  # split, not repeated


def test_colour_preserving_post_process_is_applied(tiny_root, stylizer_dir, tmp_path):
    from stylaug.data.images import load_rgb
    from stylaug.stylizer import load_stylizer, square_tensor, stylize_batch

    out = tmp_path / "aug"
    cfg = augment_cfg(tiny_root, stylizer_dir, out, "augment.scenarios=[scarce]",
                      "augment.classes=[ocean]", "augment.preserve_color=true")  # fmt: skip
    augment(cfg)
    net, _ = load_stylizer(stylizer_dir / "ocean.ckpt")
    rows = [r for r in read_jsonl(out / MANIFEST) if r["view"] == 0]
    assert rows and all(r["preserve_color"] for r in rows)
    sources = torch.stack(
        [square_tensor(load_rgb(Path(cfg.dataset.dir) / r["source"]), 32) for r in rows]
    )
    for preserve, close in ((True, True), (False, False)):
        with torch.no_grad():
            expected = stylize_batch(net, sources, preserve).mul(255).round().to(torch.uint8)
        for r, e in zip(rows, expected, strict=True):
            got = torch.from_numpy(np.asarray(Image.open(out / r["output"]))).permute(2, 0, 1)
            diff = (got.int() - e.int()).abs().max().item()
            assert (diff <= 1) == close, (r["output"], preserve, diff)
