"""A full disk and a read-only root: each is a clear error naming the file, leaves what was there
intact, and a rerun with room (or write access) finishes exactly what an undisturbed run makes.

Real filesystems: a small tmpfs and a read-only bind mount (needs root; skipped otherwise)."""

import contextlib
import json
import os
import shutil
import subprocess

import pytest

from stylaug.artifacts.manifest import MANIFEST
from stylaug.augment.stage import augment
from stylaug.classify.stage import classify
from stylaug.core.io import read_jsonl
from tests.faults.test_damaged_files import augment_cfg, augmented, classify_cfg


@pytest.fixture
def mounts():
    """mount(*args): a real mount, undone after the test; skips where mounting is not allowed."""
    done = []

    def mount(*args):
        if os.geteuid() != 0:
            pytest.skip("mounting a filesystem needs root")
        result = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount here: {result.stderr.strip()}")
        done.append(str(args[-1]))

    yield mount
    for target in reversed(done):
        subprocess.run(["umount", "-l", target], capture_output=True)


def test_a_full_disk_during_augment_names_the_file_and_the_rerun_completes_the_same_set(
    tiny_root, tiny_index, tmp_path, mounts
):
    augmented(tiny_root, tiny_index, tmp_path)
    small = tmp_path / "small"
    small.mkdir()
    mounts("-t", "tmpfs", "-o", "size=40k", "tmpfs", small)  # room for about half the set
    cfg = augment_cfg(tiny_root, tmp_path, f"augment.out_dir={small}/aug")
    with pytest.raises(OSError, match=rf"cannot write {small}/aug/.*: No space left on device"):
        augment(cfg)
    kept = read_jsonl(small / "aug" / MANIFEST)
    assert all((small / "aug" / r["output"]).is_file() for r in kept)  # every line: its image
    mounts("-o", "remount,size=4m", small)  # room again
    augment(cfg)
    ref, out = tmp_path / "aug", small / "aug"
    files = sorted(p.relative_to(ref) for p in ref.glob("*/*/*"))
    assert files == sorted(p.relative_to(out) for p in out.glob("*/*/*"))
    assert all((ref / f).read_bytes() == (out / f).read_bytes() for f in files)
    assert not list(out.rglob(".*tmp*"))


def test_a_read_only_results_folder_names_the_file_and_the_rerun_keeps_the_old_rows(
    tiny_root, tmp_path, mounts
):
    results = tmp_path / "results"
    results.mkdir()
    old = {"arm": "none", "seed": 9, "config_hash": "an-older-job"}
    (results / "results.jsonl").write_text(json.dumps(old) + "\n")
    mounts("--bind", results, results)
    mounts("-o", "remount,ro,bind", results)
    cfg = classify_cfg(tiny_root, tmp_path, f"classifier.results_file={results}/results.jsonl")
    with pytest.raises(OSError, match="Read-only file system") as err:
        classify(cfg)
    assert f"{results}/results.jsonl" in str(err.value)
    mounts("-o", "remount,rw,bind", results)
    (row,) = classify(cfg)
    assert row["feature_cache"]["computed"] == 0  # the features survived the failed job
    assert read_jsonl(results / "results.jsonl") == [old, row]


def test_a_read_only_root_is_an_error_naming_a_path_in_it_and_changes_nothing(tiny_root, tmp_path,
                                                                            mounts):  # fmt: skip
    root = tmp_path / "root"
    shutil.copytree(tiny_root / "data", root / "data")
    before = sorted(str(p) for p in root.rglob("*"))
    mounts("--bind", root, root)
    mounts("-o", "remount,ro,bind", root)
    cfg = classify_cfg(root, root / "out")
    with pytest.raises(OSError, match="Read-only file system") as err:
        classify(cfg)
    assert f"{root}/out" in str(err.value)  # where it could not write
    with contextlib.suppress(Exception):
        subprocess.run(["umount", "-l", str(root)], capture_output=True)
    assert sorted(str(p) for p in root.rglob("*")) == before
