"""Fake augmented sets the classify tests share (the augment stage's output format, no stylizer)."""

import hashlib
import json

import pytest

from stylaug.core.io import read_jsonl
from tests.classify.test_classify import write_fake_augmented


@pytest.fixture(scope="session")
def aug_dir(tiny_root, tmp_path_factory):
    return write_fake_augmented(tiny_root, tmp_path_factory.mktemp("aug") / "johnson")


def score_of(output: str) -> float:
    return round(int(hashlib.sha1(output.encode()).hexdigest()[:6], 16) / 0xFFFFFF, 4)


@pytest.fixture(scope="session")
def scored_aug(tiny_root, tmp_path_factory):
    """A fake augmented set whose content scores spread over [0, 1]."""
    out = write_fake_augmented(tiny_root, tmp_path_factory.mktemp("scored") / "johnson")
    rows = read_jsonl(out / "manifest.jsonl")
    for r in rows:
        r["content_score"] = score_of(r["output"])
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out
