"""Gatys image optimisation: the loss terms and the optimiser (random-init VGG, 32 px)."""

import pytest
import torch

from stylaug.models import gatys
from stylaug.models.loss_net import LossNetwork, gram_matrix, style_loss

LAYERS = ["relu1_1", "relu2_1", "relu3_1"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return LossNetwork(["conv3_1", *LAYERS], "vgg16", "random")


def test_region_gram_with_all_ones_mask_is_the_plain_gram():
    f = torch.randn(1, 8, 6, 5)
    assert torch.allclose(gatys.region_gram(f, torch.ones(1, 1, 6, 5)), gram_matrix(f), atol=1e-6)
    assert torch.allclose(gatys.region_gram(f, torch.ones(1, 1, 12, 10)), gram_matrix(f), atol=1e-6)


def test_region_gram_is_the_gram_of_the_region_alone():
    f = torch.randn(1, 4, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :4] = 1
    assert torch.allclose(gatys.region_gram(f, mask), gram_matrix(f[..., :, :4]), atol=1e-6)


def test_masked_style_loss_ignores_features_outside_the_mask():
    torch.manual_seed(0)
    feats = {"a": torch.randn(1, 4, 8, 8, requires_grad=True)}
    targets = {"a": gram_matrix(torch.randn(1, 4, 8, 8))}
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    loss = gatys.masked_style_loss(feats, targets, ["a"], mask=mask)
    loss.backward()
    grad = feats["a"].grad
    assert grad[..., mask[0, 0] == 0].abs().max() == 0  # no contribution from outside
    assert grad[..., mask[0, 0] == 1].abs().max() > 0
    changed = feats["a"].detach().clone()
    changed[..., mask[0, 0] == 0] = 100.0
    again = gatys.masked_style_loss({"a": changed}, targets, ["a"], mask=mask)
    assert torch.allclose(loss, again)
    unmasked = gatys.masked_style_loss({"a": changed}, targets, ["a"])
    assert unmasked > 10 * loss  # without the mask the same change does count


def test_masked_style_loss_without_mask_is_the_shared_style_loss():
    feats = {"a": torch.randn(1, 4, 8, 8)}
    targets = {"a": gram_matrix(torch.randn(1, 4, 8, 8))}
    assert torch.equal(
        gatys.masked_style_loss(feats, targets, ["a"], [2.0]),
        style_loss(feats, targets, ["a"], [2.0]),
    )


def test_blended_grams_give_the_blended_loss_gradient():
    torch.manual_seed(0)
    g1, g2 = {"a": torch.randn(1, 3, 3)}, {"a": torch.randn(1, 3, 3)}
    blended = gatys.blend_grams([g1, g2], [3.0, 1.0])
    assert torch.allclose(blended["a"], 0.75 * g1["a"] + 0.25 * g2["a"])
    assert torch.equal(gatys.blend_grams([g1, g2], [1.0, 0.0])["a"], g1["a"])


def test_semantic_style_loss_with_one_all_ones_region_is_the_plain_style_loss(vgg):
    torch.manual_seed(0)
    image, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        feats, sfeats = vgg(image), vgg(style)
    grams = gatys.style_grams(sfeats, LAYERS)
    region = gatys.Region(
        torch.ones(1, 1, 32, 32), gatys.style_grams(sfeats, LAYERS, torch.ones(1, 1, 32, 32)), 1.0
    )
    plain = style_loss(feats, grams, LAYERS)
    assert torch.allclose(gatys.semantic_style_loss(feats, [region], LAYERS), plain, rtol=1e-5)


def _terms(vgg, content, style):
    with torch.no_grad():
        cf = vgg(content)
        grams = gatys.style_grams(vgg(style), LAYERS)
    return gatys.gatys_terms(cf, grams, ["conv3_1"], LAYERS)


def test_a_few_steps_lower_the_total_loss(vgg):
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    terms = _terms(vgg, content, style)
    weights = {"content": 1.0, "style": 1e5, "tv": 0.1}
    for optimizer in ("lbfgs", "adam"):
        image, history = gatys.optimise(
            content, vgg, terms, weights, optimizer, iterations=8, progress=False
        )
        assert len(history) == 9 and set(history[0]) == {"iter", "total", "content", "style", "tv"}
        assert history[-1]["total"] < 0.9 * history[0]["total"], optimizer
        assert 0 <= image.min() and image.max() <= 1


def test_content_only_optimisation_from_noise_approaches_the_content_features(vgg):
    torch.manual_seed(1)
    content = torch.rand(1, 3, 32, 32)
    terms = _terms(vgg, content, torch.rand(1, 3, 32, 32))
    weights = {"content": 1.0, "style": 0.0, "tv": 0.0}
    noise = torch.rand(1, 3, 32, 32)
    image, history = gatys.optimise(noise, vgg, terms, weights, "lbfgs", 30, progress=False)
    assert set(history[0]) == {"iter", "total", "content"}  # weight-0 terms are not computed
    assert history[-1]["content"] < 0.25 * history[0]["content"]
    with torch.no_grad():
        feats = vgg(image)["conv3_1"]
        target = vgg(content)["conv3_1"]
        start = vgg(noise)["conv3_1"]
    assert (feats - target).norm() < 0.5 * (start - target).norm()


def test_optimise_rejects_an_unknown_optimizer(vgg):
    with pytest.raises(ValueError, match="lbfgs or adam"):
        gatys.optimise(torch.rand(1, 3, 8, 8), vgg, {}, {}, "sgd", 1, progress=False)


def test_lbfgs_keeps_making_progress_after_its_first_step(vgg):
    """Regression: with max_iter=1 the default evaluation budget left the line search no room and
    L-BFGS stalled after one step on flat-coloured content."""
    content = torch.zeros(1, 3, 32, 32)
    content[:, :, :16] = torch.tensor([0.4, 0.6, 0.9]).view(1, 3, 1, 1)
    content[:, :, 16:] = torch.tensor([0.1, 0.5, 0.2]).view(1, 3, 1, 1)
    torch.manual_seed(0)
    terms = _terms(vgg, content, torch.rand(1, 3, 32, 32))
    weights = {"content": 1.0, "style": 1e5, "tv": 0.0}
    _, history = gatys.optimise(content, vgg, terms, weights, "lbfgs", 6, progress=False)
    assert history[-1]["total"] < 0.7 * history[1]["total"]
