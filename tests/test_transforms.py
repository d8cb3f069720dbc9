"""stylaug.transforms: StyleAugment is seeded, per-sample and in range for every family; on a real
photo (scikit-learn's china.jpg, styled after flower.jpg) fda, histogram_match and AdaIN keep the
scene and take the style's statistics; johnson routes each image to its class's network; MixStyle
mixes statistics in training and is the identity in eval mode.

Networks with random weights (adain's decoder, johnson's stylizers) stylize nothing meaningful, so
with them only the mechanics are asserted (determinism, p, range, routing). Content and style are
asserted where they are properties of the transform itself: fda, histogram_match, and AdaIN with a
pixel-space encoder and identity decoder (AdaIN is then exact channel mean/std transfer).
"""

import copy
import functools

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_sample_images
from stylaug.quality import edge_correlation
from torch import nn
from torchvision.models import resnet18

from stylaug.models.adain import AdaINStylizer, Decoder, encoder_spec, save_decoder
from stylaug.models.backbone import Backbone
from stylaug.models.loss_net import LossNetwork
from stylaug.models.stylizer import save_stylizer, stylize_batch
from stylaug.models.transformer_net import TransformerNet
from stylaug.transforms import (
    FAMILIES,
    MixStyle,
    StyleAugment,
    channel_quantiles,
    fourier_domain_adaptation,
    insert_mixstyle,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors on a shared 2-core machine
SIZE = 64
LABELS = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])


def crops(photo, n: int) -> torch.Tensor:
    """``n`` different square crops of an (H, W, 3) uint8 photo, (n, 3, SIZE, SIZE) in [0, 1]."""
    image = torch.from_numpy(photo.copy()).permute(2, 0, 1).float() / 255
    side = 320
    starts = torch.linspace(0, image.shape[2] - side, n).long().tolist()
    tiles = torch.stack([image[:, 40 : 40 + side, s : s + side] for s in starts])
    return F.interpolate(tiles, size=(SIZE, SIZE), mode="bilinear", antialias=True)


@pytest.fixture(scope="module")
def photos():
    china, flower = load_sample_images().images
    return crops(china, len(LABELS)), crops(flower, 2)


def channel_stats(images):
    return torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], dim=1)


class PixelEncoder(nn.Module):
    """AdaIN's encoder as the identity: AdaIN becomes channel mean/std transfer in pixel space."""

    def forward(self, images):
        return {"pixels": images}


@functools.cache
def random_adain():
    """An EfficientNet-Lite0 encoder and a decoder, random weights (built once: they are frozen)."""
    torch.manual_seed(0)
    layer, _, widths = encoder_spec("efficientnet_lite0")
    encoder = LossNetwork([layer], "efficientnet_lite0", "random")
    return AdaINStylizer(encoder, layer, Decoder(40, widths))


@functools.cache
def random_stylizers():
    torch.manual_seed(0)
    return {0: TransformerNet(), 1: TransformerNet()}


def make(family, styles, seed=0, **kwargs):
    """StyleAugment of ``family``, with networks of random weights where it needs networks."""
    if family == "johnson":
        needs = {"stylizers": random_stylizers()}
    elif family in ("adain", "randomized"):
        needs = {"styles": styles, "stylizer": random_adain()}
    else:
        needs = {"styles": styles}
    return StyleAugment(family, **needs, generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize("family", FAMILIES)
def test_p0_is_the_identity_and_p1_changes_every_image(photos, family):
    content, styles = photos
    assert make(family, styles, p=0.0)(content, LABELS) is content
    out = make(family, styles, p=1.0)(content, LABELS)
    change = (out - content).abs().flatten(1).amax(dim=1)
    assert (change > 0.02).all(), change


@pytest.mark.parametrize("family", FAMILIES)
def test_a_seeded_generator_repeats_the_batch_and_leaves_undrawn_samples_bit_identical(
    photos, family
):
    content, styles = photos
    first = make(family, styles, p=0.5, alpha=(0.3, 1.0))
    again = make(family, styles, p=0.5, alpha=(0.3, 1.0))
    draw = first.draw(len(content), LABELS)
    assert torch.equal(draw.applied, again.draw(len(content), LABELS).applied)
    assert 0 < int(draw.applied.sum()) < len(content)  # seed 0 mixes both outcomes
    out = first.apply(content, draw, LABELS)
    assert torch.equal(out, again.apply(content, draw, LABELS))
    assert torch.equal(out[~draw.applied], content[~draw.applied])
    assert ((out[draw.applied] - content[draw.applied]).abs().amax(dim=(1, 2, 3)) > 0.01).all()
    # whole calls: the same seed gives the same batch; another seed, other draws
    assert torch.equal(make(family, styles, p=0.5, alpha=(0.3, 1.0))(content, LABELS), out)
    zeros = torch.zeros(64, dtype=torch.long)
    other = make(family, styles, seed=1, p=0.5).draw(64, zeros)
    assert not torch.equal(other.applied, make(family, styles, p=0.5).draw(64, zeros).applied)


@pytest.mark.parametrize("family", FAMILIES)
def test_outputs_stay_in_range_and_keep_the_dtype(photos, family):
    content, styles = photos
    extreme = content.double().mul(3).sub(1).clamp(0, 1)  # saturated pixels at 0 and 1
    out = make(family, styles, p=1.0)(extreme, LABELS)
    assert out.dtype == torch.float64
    assert out.min() >= 0 and out.max() <= 1


def test_the_raw_fourier_swap_leaves_the_range_so_the_clamp_matters(photos):
    content, styles = photos
    raw = fourier_domain_adaptation(content[:2], styles, beta=0.05)
    assert raw.min() < 0 or raw.max() > 1


def style_distance(images, style):
    """Per image: mean |channel mean/std - the style's|."""
    return (channel_stats(images) - channel_stats(style)).abs().mean(dim=1)


@pytest.mark.parametrize("family", ["fda", "histogram_match"])
def test_fda_and_histogram_match_keep_the_scene_and_take_the_styles_statistics(photos, family):
    content, styles = photos
    style = styles[:1]
    out = StyleAugment(family, styles=style, p=1.0)(content)
    kept = edge_correlation(content, out)
    unrelated = edge_correlation(content, style.expand_as(content))  # 0.19 at most
    # histogram matching stretches flat regions (the sky) over the style's range, and their
    # noise with them: its weakest crops keep 0.36 of the edge correlation, fda's 0.83
    floor = {"fda": 0.7, "histogram_match": 0.3}[family]
    assert (kept > floor).all() and kept.mean() > 0.55, kept
    assert (unrelated.abs() < 0.25).all(), unrelated
    before, after = style_distance(content, style), style_distance(out, style)
    assert (after < 0.35 * before).all(), (before, after)


def test_histogram_match_gives_each_channel_the_styles_histogram(photos):
    content, styles = photos
    out = StyleAugment("histogram_match", styles=styles[:1], p=1.0)(content)
    target = channel_quantiles(styles[:1]).expand(len(content), -1, -1)
    assert (channel_quantiles(out) - target).abs().max() < 0.01
    assert (channel_quantiles(content) - target).abs().max() > 0.3


def test_histogram_match_keeps_equal_pixels_equal_at_their_groups_middle_quantile():
    """A two-level image matched to a uniform ramp: each level becomes the ramp's value at the
    middle of its group's quantiles (1/4 and 3/4), not at the group's first or last rank."""
    content = torch.full((1, 3, 8, 8), 0.2)
    content[..., 4:] = 0.8
    ramp = torch.linspace(0, 1, 64 * 64).view(1, 1, 64, 64).expand(1, 3, 64, 64)
    out = StyleAugment("histogram_match", styles=ramp, p=1.0)(content)
    assert torch.allclose(out[..., :4], torch.tensor(0.25), atol=1e-3)
    assert torch.allclose(out[..., 4:], torch.tensor(0.75), atol=1e-3)


def test_fda_beta_sets_how_much_of_the_spectrum_is_swapped(photos):
    content, styles = photos
    narrow = StyleAugment("fda", styles=styles[:1], beta=0.0, p=1.0)(content)
    wide = StyleAugment("fda", styles=styles[:1], beta=0.1, p=1.0)(content)
    # beta 0 swaps the mean colour only; a wider window also takes the style's contrast
    style_std = styles[:1].std(dim=(2, 3))
    mean_gap = (narrow.mean(dim=(2, 3)) - styles[:1].mean(dim=(2, 3))).abs().mean()
    assert mean_gap < 0.2 * (content.mean(dim=(2, 3)) - styles[:1].mean(dim=(2, 3))).abs().mean()
    narrow_gap = (narrow.std(dim=(2, 3)) - style_std).abs().mean()
    assert (wide.std(dim=(2, 3)) - style_std).abs().mean() < 0.5 * narrow_gap


def test_adain_takes_each_images_drawn_style_with_its_strength(photos):
    """Pixel-space AdaIN = channel mean/std transfer: each output has the statistics of the pool
    style it drew, interpolated by its alpha, and keeps its scene."""
    content, styles = photos
    pool = torch.stack([styles[0], 1 - styles[1]])  # two styles with very different colours
    stylizer = AdaINStylizer(PixelEncoder(), "pixels", nn.Identity())
    augment = StyleAugment(
        "adain", stylizer=stylizer, styles=pool, p=1.0, alpha=(0.5, 1.0),
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    draw = augment.draw(len(content))
    assert len(draw.style.unique()) == 2
    # the family's output before StyleAugment clamps it: exact statistics
    raw = augment.family(content, draw.style, draw.alpha)
    a = draw.alpha.view(-1, 1)
    expected = (1 - a) * channel_stats(content) + a * channel_stats(pool)[draw.style]
    assert (channel_stats(raw) - expected).abs().max() < 2e-3
    # clamped: still nearer the style it drew than the other one, and the same scene
    out = augment.apply(content, draw)
    drawn = style_distance(out, pool[draw.style])
    assert (drawn < style_distance(out, pool[1 - draw.style])).all()
    assert (edge_correlation(content, out) > 0.8).all()


def test_randomized_draws_a_style_and_a_strength_below_alpha_per_image(photos):
    content, styles = photos
    draw = make("randomized", styles, p=1.0, alpha=0.6).draw(256)
    assert draw.alpha.min() >= 0 and draw.alpha.max() < 0.6
    assert draw.alpha.max() - draw.alpha.min() > 0.5  # spread over (0, 0.6), not one value
    assert set(draw.style.tolist()) == {0, 1}
    fixed = make("adain", styles, p=1.0, alpha=0.6).draw(256)
    assert (fixed.alpha == 0.6).all()


def test_adain_loads_a_train_decoder_checkpoint_with_its_encoder(photos, tmp_path):
    content, styles = photos
    reference = random_adain()
    meta = {
        "loss_net": "efficientnet_lite0",
        "loss_net_weights": reference.encoder.weights,
        "layer": reference.layer,
        "style_layers": ["stem", "block2", "block4"],
        "in_channels": reference.decoder.in_channels,
        "widths": reference.decoder.widths,
    }
    path = save_decoder(tmp_path / "decoder.ckpt", reference.decoder, meta)
    loaded = StyleAugment("adain", stylizer=path, styles=styles, p=1.0, alpha=0.7)
    built = StyleAugment("adain", stylizer=reference, styles=styles, p=1.0, alpha=0.7)
    draw = built.draw(len(content))
    assert torch.allclose(loaded.apply(content, draw), built.apply(content, draw), atol=1e-5)


def test_adain_accepts_precomputed_style_statistics(photos):
    content, styles = photos
    images = make("adain", styles, p=1.0)
    stats = (images.family.style_mean, images.family.style_std)
    from_stats = StyleAugment("adain", stylizer=images.family.stylizer, styles=stats, p=1.0)
    draw = images.draw(len(content))
    assert torch.equal(images.apply(content, draw), from_stats.apply(content, draw))


def test_johnson_stylizes_each_image_with_its_classs_network(photos, tmp_path):
    content, _ = photos
    nets = random_stylizers()
    path = save_stylizer(tmp_path / "one.ckpt", nets[1], {"residual_blocks": 5})
    augment = StyleAugment("johnson", stylizers={0: nets[0], 1: path}, p=1.0)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])  # class 2 has no network: left as it is
    out = augment(content, labels)
    for i, label in enumerate(labels.tolist()):
        if label == 2:
            assert torch.equal(out[i], content[i])
        else:
            alone = stylize_batch(nets[label], content[i : i + 1])[0]
            assert torch.allclose(out[i], alone, atol=1e-4)
    with pytest.raises(ValueError, match="labels"):
        augment(content)


def test_eval_mode_is_the_identity(photos):
    content, styles = photos
    augment = StyleAugment("fda", styles=styles, p=1.0).eval()
    assert augment(content) is content
    assert not torch.equal(augment.train()(content), content)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "cartoon", "styles": "S"}, "unknown family 'cartoon'"),
        ({"family": "fda"}, "missing: styles"),
        ({"family": "histogram_match", "styles": "S", "beta": 0.1}, "does not use: beta"),
        ({"family": "fda", "styles": "S", "alpha": 1.5}, r"alpha=1.5 must be"),
        ({"family": "fda", "styles": "S", "p": 2}, "p=2"),
        ({"family": "fda", "styles": "BIG"}, r"must be in \[0, 1\]"),
        ({"family": "johnson", "stylizers": {"ocean": "x.ckpt"}}, "class indices"),
    ],
)
def test_clear_errors(photos, kwargs, message):
    styles = {"S": photos[1], "BIG": photos[1] * 255}
    kwargs = {k: styles.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=message):
        StyleAugment(kwargs.pop("family"), **kwargs)


def test_uint8_batches_are_refused_with_the_fix(photos):
    augment = StyleAugment("fda", styles=photos[1])
    with pytest.raises(ValueError, match=r"float RGB images .* before normalisation"):
        augment((photos[0] * 255).to(torch.uint8))


# --- MixStyle ---------------------------------------------------------------------------------


def test_mixstyle_mixes_instance_statistics_in_training_and_is_the_identity_in_eval():
    torch.manual_seed(0)
    x = torch.randn(6, 8, 10, 10) * torch.rand(6, 8, 1, 1) * 3 + torch.randn(6, 8, 1, 1)
    generator = torch.Generator().manual_seed(0)
    mix = MixStyle(p=1.0, alpha=0.3, generator=generator)
    assert mix.eval()(x) is x
    replay = MixStyle(
        p=1.0, alpha=0.3, generator=torch.Generator().set_state(generator.get_state())
    )
    torch.rand((), generator=replay.generator)  # the p draw forward makes first
    lam, perm = replay.mixing(len(x))
    out = mix.train()(x)
    mean, std = x.mean(dim=(2, 3)), (x.var(dim=(2, 3)) + mix.eps).sqrt()
    lam = lam.view(-1, 1)
    assert torch.allclose(out.mean(dim=(2, 3)), lam * mean + (1 - lam) * mean[perm], atol=1e-4)
    assert torch.allclose(out.std(dim=(2, 3)), lam * std + (1 - lam) * std[perm], atol=1e-3)
    assert not torch.allclose(out.mean(dim=(2, 3)), mean, atol=0.05)  # statistics really moved
    # the normalised pattern of every sample is its own
    normalised = (out - out.mean(dim=(2, 3), keepdim=True)) / out.std(dim=(2, 3), keepdim=True)
    own = (x - x.mean(dim=(2, 3), keepdim=True)) / x.std(dim=(2, 3), keepdim=True)
    assert torch.allclose(normalised, own, atol=1e-3)
    assert MixStyle(p=0.0).train()(x) is x


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_lite0"])
def test_insert_mixstyle_after_the_early_blocks_of_a_backbone(arch):
    torch.manual_seed(0)
    model = resnet18(weights=None) if arch == "resnet18" else Backbone(arch, "random")
    x = torch.rand(4, 3, 64, 64)
    state = copy.deepcopy(model.state_dict())  # training-mode passes update batch-norm statistics
    with torch.no_grad():
        eval_before, train_before = model.eval()(x), model.train()(x)
        mixes = insert_mixstyle(model, p=1.0, generator=torch.Generator().manual_seed(0))
        train_after = model.train()(x)
        model.load_state_dict(state)
        eval_after = model.eval()(x)
    names = {"resnet18": ["layer1", "layer2"], "efficientnet_lite0": ["_blocks_2", "_blocks_4"]}
    prefix = "" if arch == "resnet18" else "net_"
    assert [n for n, m in model.named_children() if isinstance(m, MixStyle)] == [
        f"mixstyle_{prefix}{n}" for n in names[arch]
    ]
    assert len(mixes) == 2 and list(model.state_dict()) == list(state)
    assert torch.equal(eval_after, eval_before)
    assert not torch.allclose(train_after, train_before, atol=1e-3)
