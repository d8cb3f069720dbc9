"""The feature cache: keys, shards, hits and misses, bad images, a deterministic random backbone."""

import shutil

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from PIL import Image

from stylaug.classify.features import (
    FeatureCache,
    cached_features,
    eval_transform,
    feature_key,
    load_backbone,
)
from stylaug.core.io import file_sha256
from stylaug.data.images import BadImageError

BACKBONE = OmegaConf.create({"arch": "resnet18", "weights": "random"})
DIM = 512


def trainer():
    return pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )


def keys(n, tag="k"):
    return [feature_key(f"{tag}{i}", "w", "t") for i in range(n)]


def test_put_get_merge(tmp_path):
    cache = FeatureCache(tmp_path, "w", "t", DIM)
    feats = np.random.default_rng(0).normal(size=(5, DIM)).astype(np.float32)
    cache.put(keys(5)[:3], feats[:3])
    cache.put(keys(5)[2:], feats[2:])  # overlapping key 2
    got, hit = cache.get(keys(6))
    assert hit.tolist() == [True] * 5 + [False]
    np.testing.assert_array_equal(got[:5], feats)
    assert not got[5].any()
    cache.merge()
    assert len(cache.shards()) == 1
    got2, hit2 = FeatureCache(tmp_path, "w", "t", DIM).get(keys(6))
    np.testing.assert_array_equal(got2, got)
    np.testing.assert_array_equal(hit2, hit)
    assert len(np.load(cache.shards()[0])) == 5  # deduplicated
    # another (weights, transform) pair is another folder: no hits
    assert not FeatureCache(tmp_path, "w2", "t", DIM).get(keys(5))[1].any()


def test_keys_follow_content_weights_transform(tmp_path):
    a = tmp_path / "a.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(a)
    shutil.copy(a, tmp_path / "renamed.png")
    d = file_sha256(a)
    assert file_sha256(tmp_path / "renamed.png") == d
    k = feature_key(d, "w", "t")
    assert (
        len({k, feature_key(d, "w2", "t"), feature_key(d, "w", "t2"), feature_key(d, "w", "t", 1)})
        == 4
    )
    Image.new("RGB", (8, 8), (10, 20, 31)).save(a)
    assert file_sha256(a) != d


def test_random_backbone_is_the_same_network_every_time():
    (m1, d1), (m2, d2) = load_backbone(BACKBONE), load_backbone(BACKBONE)
    assert d1 == d2 and "random-init" in d1
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(m1(x), m2(x))
    assert not m1.training and not any(p.requires_grad for p in m1.parameters())


def test_cached_features_hit_on_second_call_and_skip_bad_images(tiny_index, tmp_path):
    model, weights = load_backbone(BACKBONE)
    tf, desc = eval_transform(32, model)
    cache = FeatureCache(tmp_path / "cache", weights, desc, model.dim)
    paths = [tiny_index.abspath(p) for p in tiny_index.paths("test", "ocean")[:6]]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    f1, ok1, s1 = cached_features([*paths, bad], cache, model, tf, trainer)
    assert ok1.tolist() == [True] * 6 + [False]
    assert s1 == {"hits": 0, "computed": 7, "bad": 1}
    f2, ok2, s2 = cached_features(paths, cache, model, tf, trainer)
    assert s2 == {"hits": 6, "computed": 0, "bad": 0}
    np.testing.assert_array_equal(f2, f1[:6])
    with torch.no_grad():  # what the cache holds is the backbone's output
        direct = model(torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])).numpy()
    np.testing.assert_allclose(f2, direct, rtol=1e-4, atol=1e-5)
    with pytest.raises(BadImageError, match="broken.png"):
        cached_features([bad], cache, model, tf, trainer, on_bad_image="error")


def test_feature_size_comes_from_the_backbone(tmp_path):
    """EfficientNet-Lite0 gives 1280-d features: nothing may assume ResNet-18's 512."""
    model, weights = load_backbone(
        OmegaConf.create({"arch": "efficientnet_lite0", "weights": "random"})
    )
    assert model.dim == 1280 and "efficientnet_lite0:random-init" in weights
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 1280)
    tf, desc = eval_transform(64, model)
    assert "lite(127/128)" in desc  # EfficientNet-Lite's own input normalisation
    cache = FeatureCache(tmp_path, weights, desc, model.dim)
    feats = np.ones((2, 1280), np.float32)
    cache.put(keys(2), feats)
    got, hit = cache.get(keys(2))
    assert hit.all() and got.shape == (2, 1280)
