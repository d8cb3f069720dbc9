"""Photorealistic options: the matting Laplacian, the segmentation loss, semantic style regions,
and each option lowering its own loss term (random-init networks, 32 px)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylaug.data.visual import to_tensor
from stylaug.models import gatys, segmentation
from stylaug.models import photoreal_loss as photoreal
from stylaug.models.loss_net import LossNetwork, gram_matrix, style_loss
from stylaug.models.weights import PretrainedWeightsMissing
from stylaug.stylize import stage as st
from tests.conftest import compose_cfg

pytestmark = pytest.mark.usefixtures("one_thread")


def smooth_image(h=16, w=20, seed=0):
    """A photo-like image: smooth colour gradients plus an edge."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.3 + 0.4 * x, 0.2 + 0.5 * y, 0.5 + 0.2 * x * y], -1)
    img[:, w // 2 :] = img[:, w // 2 :] * 0.6 + 0.3
    return np.clip(img + 0.02 * rng.standard_normal(img.shape), 0, 1)


def as_tensor(arr):
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].float()


# ---------------------------------------------------------------- matting Laplacian


def test_laplacian_is_symmetric_psd_with_zero_row_sums():
    lap = photoreal.matting_laplacian(smooth_image(), epsilon=1e-5)
    assert lap.shape == (16 * 20, 16 * 20)
    assert abs(lap - lap.T).max() < 1e-9
    assert np.abs(np.asarray(lap.sum(axis=1))).max() < 1e-8
    eig = np.linalg.eigvalsh(lap.toarray())
    assert eig.min() > -1e-8 * eig.max() and eig.max() > 0.1
    assert lap.nnz <= 25 * 16 * 20  # sparse: at most a 5x5 neighbourhood per pixel


def naive_laplacian(img, eps):
    """Levin et al.'s definition, window by window, dense: the reference."""
    h, w, _ = img.shape
    lap = np.zeros((h * w, h * w))
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            idx = [(y + dy) * w + (x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            win = img[y - 1 : y + 2, x - 1 : x + 2].reshape(9, 3)
            mu = win.mean(0)
            cov = (win - mu).T @ (win - mu) / 9
            inv = np.linalg.inv(cov + eps / 9 * np.eye(3))
            block = np.eye(9) - (1 + (win - mu) @ inv @ (win - mu).T) / 9
            lap[np.ix_(idx, idx)] += block
    return lap


def test_laplacian_matches_the_window_by_window_definition():
    img = smooth_image(6, 7, seed=2)
    fast = photoreal.matting_laplacian(img, epsilon=1e-3).toarray()
    assert np.allclose(fast, naive_laplacian(img, 1e-3), atol=1e-9)


def test_laplacian_rows_only_link_pixels_that_share_a_window():
    lap = photoreal.matting_laplacian(smooth_image(8, 8), epsilon=1e-5).tocoo()
    dy = np.abs(lap.row // 8 - lap.col // 8)
    dx = np.abs(lap.row % 8 - lap.col % 8)
    assert dy.max() == 2 and dx.max() == 2


@pytest.mark.parametrize("epsilon, ratio", [(1e-7, 1e5), (1e-4, 1e3)])  # epsilon smooths
def test_locally_affine_recolouring_costs_nearly_nothing_and_noise_a_lot(epsilon, ratio):
    content = smooth_image()
    lap = photoreal.to_torch(photoreal.matting_laplacian(content, epsilon))
    rng = np.random.default_rng(1)
    recoloured = content @ rng.uniform(-1, 1, (3, 3)).T + rng.uniform(0, 0.5, 3)  # global affine
    noise = rng.random(content.shape)
    affine_cost = photoreal.photorealism_loss(as_tensor(recoloured), lap).item()
    noise_cost = photoreal.photorealism_loss(as_tensor(noise), lap).item()
    assert affine_cost >= -1e-6 and noise_cost > ratio * max(affine_cost, 1e-6)


def test_regulariser_gradient_is_2_L_v():
    lap_sp = photoreal.matting_laplacian(smooth_image(6, 7), epsilon=1e-4)
    lap = photoreal.to_torch(lap_sp)
    image = torch.rand(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    loss = photoreal.photorealism_loss(image, lap)
    loss.backward()
    v = image.detach()[0].reshape(3, -1).T.numpy()
    assert loss.item() == pytest.approx(float((v * (lap_sp @ v)).sum()), rel=1e-10)
    expected = 2 * (lap_sp @ v)
    got = image.grad[0].reshape(3, -1).T.numpy()
    assert np.allclose(got, expected, rtol=1e-8, atol=1e-10)
    assert torch.autograd.gradcheck(
        lambda x: photoreal.photorealism_loss(x, lap), (image.detach().clone().requires_grad_(),)
    )


def test_laplacian_of_256px_stays_in_tens_of_megabytes():
    lap = photoreal.matting_laplacian(np.random.default_rng(0).random((256, 256, 3)))
    assert lap.nnz <= 25 * 256 * 256
    assert photoreal.sparse_megabytes(photoreal.to_torch(lap)) < 40


def test_laplacian_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        photoreal.matting_laplacian(np.zeros((8, 8)))


# ---------------------------------------------------------------- segmentation


@pytest.fixture(scope="module")
def segmenter():
    torch.manual_seed(0)
    return segmentation.build_segmenter("lraspp_mobilenet_v3_large", "random")


def test_segmentation_loss_is_zero_for_the_content_itself(segmenter):
    content = as_tensor(smooth_image(32, 32))
    term = segmentation.SegmentationTerm(segmenter, content)
    assert term(content).item() == 0.0
    other = term(torch.rand(1, 3, 32, 32))
    assert other.item() > 0
    assert segmenter.weights == "lraspp_mobilenet_v3_large:random-init"


def test_segmenter_is_frozen_and_gives_probabilities(segmenter):
    segmenter.train()
    assert not segmenter.training and not any(p.requires_grad for p in segmenter.parameters())
    probs = segmenter(torch.rand(1, 3, 32, 32))
    assert probs.shape == (1, 21, 32, 32)
    assert torch.allclose(probs.sum(1), torch.ones(1, 32, 32), atol=1e-5)


def test_segmenter_weights_are_checked():
    with pytest.raises(ValueError, match="pretrained"):
        segmentation.build_segmenter("fcn_resnet50", "imagenet")
    with pytest.raises(ValueError, match="unknown"):
        segmentation.build_segmenter("unet", "random")


def test_missing_pretrained_segmentation_weights_name_the_file(offline_torch_home):
    with pytest.raises(PretrainedWeightsMissing) as err:
        segmentation.build_segmenter("lraspp_mobilenet_v3_large", "pretrained")
    msg = str(err.value)
    assert "lraspp_mobilenet_v3_large-d234d4ea.pth" in msg
    assert (
        str(offline_torch_home / "hub" / "checkpoints") in msg
        and "segmentation.weights=random" in msg
    )


def test_pretrained_segmentation_weights_come_from_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, weights = segmentation.SEG_ARCHS["lraspp_mobilenet_v3_large"]
    file = segmentation.checkpoint_file(weights)
    file.parent.mkdir(parents=True)
    torch.manual_seed(5)
    reference = segmentation.build_segmenter("lraspp_mobilenet_v3_large", "random").model
    torch.save(reference.state_dict(), file)
    seg = segmentation.build_segmenter("lraspp_mobilenet_v3_large", "pretrained")
    assert "COCO_WITH_VOC_LABELS_V1" in seg.weights and file.name in seg.weights
    for (name, p), q in zip(
        seg.model.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name


def test_region_gram_with_all_ones_mask_equals_plain_gram_and_one_region_is_plain_style():
    torch.manual_seed(0)
    vgg = LossNetwork(["relu1_1", "relu2_1"], "vgg16", "random")
    image, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    feats, sfeats = vgg(image), vgg(style)
    ones = torch.ones(1, 1, 32, 32)
    for name in feats:
        assert torch.allclose(
            gatys.region_gram(feats[name], ones), gram_matrix(feats[name]), atol=1e-6
        )
    labels = torch.zeros(32, 32, dtype=torch.long)  # one label everywhere
    regions = segmentation.semantic_regions(labels, labels.clone(), sfeats, ["relu1_1", "relu2_1"])
    assert len(regions) == 1 and regions[0].weight == 1.0
    plain = style_loss(
        feats, gatys.style_grams(sfeats, ["relu1_1", "relu2_1"]), ["relu1_1", "relu2_1"]
    )
    semantic = gatys.semantic_style_loss(feats, regions, ["relu1_1", "relu2_1"])
    assert torch.allclose(semantic, plain, rtol=1e-5)


def test_semantic_regions_pair_labels_and_send_unmatched_pixels_to_the_whole_style():
    feats = {"a": torch.rand(1, 4, 8, 8)}
    content = torch.zeros(8, 8, dtype=torch.long)
    content[:, 4:] = 1
    content[0, 0] = 7  # too small a region: goes with the rest
    style = torch.ones(8, 8, dtype=torch.long)
    style[:4] = 0
    style[7, 7] = 2
    regions = segmentation.semantic_regions(content, style, feats, ["a"], min_area=0.05)
    assert len(regions) == 3  # labels 0 and 1, plus the leftover pixel
    assert sum(r.weight for r in regions) == pytest.approx(1.0)
    top = torch.zeros(1, 1, 8, 8)
    top[..., :4, :] = 1
    assert torch.allclose(regions[0].grams["a"], gatys.region_gram(feats["a"], top))
    assert torch.allclose(regions[-1].grams["a"], gram_matrix(feats["a"]))
    assert regions[-1].content_mask.sum() == 1


def test_label_images_must_have_flat_colours(tmp_path):
    arr = np.zeros((8, 8, 3), np.uint8)
    arr[:, 4:] = (255, 0, 0)
    Image.fromarray(arr).save(tmp_path / "labels.png")
    labels = segmentation.label_image(
        tmp_path / "labels.png", (16, 16), "segmentation.content_mask"
    )
    assert labels.shape == (16, 16) and len(torch.unique(labels)) == 2
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
        tmp_path / "noisy.png"
    )
    with pytest.raises(ValueError, match="flat colours"):
        segmentation.label_image(tmp_path / "noisy.png", (8, 8), "segmentation.style_mask")


# ---------------------------------------------------------------- the options in stylize


FAST = [
    "trainer=cpu",
    "model.loss_net.weights=random",  # VGG16, random init: a smoke test of the machinery
    "segmentation.arch=lraspp_mobilenet_v3_large",
    "segmentation.weights=random",
    "logger=none",
    "progress=false",
    "gatys.image_size=32",
    "gatys.iterations=6",
    "gatys.init=noise",
    "gatys.style_weight=1e4",
]


@pytest.fixture
def images(tmp_path):
    content = (smooth_image(32, 32) * 255).astype(np.uint8)
    Image.fromarray(content).save(tmp_path / "content.png")
    style = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(style).save(tmp_path / "style.png")
    return tmp_path


def run(root, name, *extra):
    cfg = compose_cfg(
        "stylize",
        FAST
        + [
            f"content={root / 'content.png'}",
            f"style={root / 'style.png'}",
            f"output={root / name}",
        ]
        + list(extra),
        root,
    )
    st.stylize(cfg)
    return to_tensor(Image.open(root / name).convert("RGB")), json.loads(
        (root / name).with_suffix(".history.json").read_text()
    )


def test_each_option_lowers_its_own_loss_term(images):
    plain, _ = run(images, "plain.png")
    content = to_tensor(Image.open(images / "content.png").convert("RGB"))

    out, record = run(images, "photoreal.png", "photoreal_weight=1e-3", "photoreal.epsilon=1e-4")
    assert "photoreal" in record["history"][0] and record["laplacian"]["megabytes"] > 0
    term = photoreal.PhotorealTerm(content, epsilon=1e-4)
    assert term(out).item() < 0.5 * term(plain).item()

    # a random-init segmenter gives near-uniform probabilities (loss ~1e-9): the weight must make its
    # term count against the style loss, or the comparison below is float noise (it failed on AVX2)
    out, record = run(images, "seg.png", "seg_loss_weight=1e9")
    assert "seg" in record["history"][0] and "random-init" in record["segmentation"]
    torch.manual_seed(0)
    seg_term = segmentation.SegmentationTerm(
        segmentation.build_segmenter("lraspp_mobilenet_v3_large", "random"), content
    )
    assert record["history"][-1]["seg"] < record["history"][0]["seg"]
    assert seg_term(out).item() < seg_term(plain).item()

    out, record = run(
        images,
        "semantic.png",
        "semantic_style=true",
        "gatys.style_weight=1e6",
        "gatys.content_weight=0",
    )
    history = record["history"]
    assert history[-1]["style"] < 0.5 * history[0]["style"] and record["regions"] >= 1


def test_semantic_style_with_user_label_images(images):
    labels = np.zeros((32, 32, 3), np.uint8)
    labels[16:] = (0, 0, 255)
    Image.fromarray(labels).save(images / "cmask.png")
    Image.fromarray(labels[:, ::-1].transpose(1, 0, 2).copy()).save(images / "smask.png")
    _, record = run(
        images,
        "labels.png",
        "semantic_style=true",
        f"segmentation.content_mask={images / 'cmask.png'}",
        f"segmentation.style_mask={images / 'smask.png'}",
    )
    assert record["regions"] == 2 and "segmentation" not in record  # no network needed
    with pytest.raises(ValueError, match="both"):
        run(
            images,
            "x.png",
            "semantic_style=true",
            f"segmentation.content_mask={images / 'cmask.png'}",
        )


def test_compare_shows_plain_gatys_and_each_photoreal_option(images):
    cfg = compose_cfg(
        "stylize",
        FAST
        + [
            f"content={images / 'content.png'}",
            f"style={images / 'style.png'}",
            f"output={images / 'fig3.png'}",
            "compare=true",
            "seg_loss_weight=10",
            "photoreal_weight=1e-4",
            "gatys.iterations=2",
        ],
        images,
    )
    result = st.stylize(cfg)
    assert len(result["variants"]) == 3  # plain, + segmentation loss, + photorealism
    assert Image.open(images / "fig3.png").width == 5 * 192
    settings = [
        json.loads(p.with_suffix(".history.json").read_text())["settings"]["options"]
        for p in result["variants"]
    ]
    assert [s["seg_loss_weight"] for s in settings] == [0.0, 10.0, 0.0]
    assert [s["photoreal_weight"] for s in settings] == [0.0, 0.0, 1e-4]
