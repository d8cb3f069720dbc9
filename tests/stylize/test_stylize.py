"""``python -m stylaug.stylize`` through its real entry function (random-init networks, 32 px)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylaug.data.visual import to_tensor
from stylaug.models.color import rgb_to_yiq
from stylaug.models.stylizer import StylizerCheckpointError, save_stylizer
from stylaug.models.transformer_net import TransformerNet
from stylaug.stylize import gatys_run as stylize_gatys
from stylaug.stylize import johnson_run as stylize_johnson
from stylaug.stylize import stage as st
from tests.conftest import compose_cfg

pytestmark = pytest.mark.usefixtures("one_thread")


FAST = [
    "trainer=cpu",
    "model.loss_net.weights=random",  # VGG16, random init: a smoke test of the machinery
    "segmentation.arch=lraspp_mobilenet_v3_large",
    "segmentation.weights=random",
    "logger=none",
    "progress=false",
    "gatys.image_size=32",
    "gatys.iterations=4",
]


def _save(path, arr):
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    content = np.zeros((32, 32, 3), np.uint8)
    content[:16] = (90, 140, 200)
    content[16:] = (60, 150, 80)
    content = np.clip(content + rng.integers(-20, 20, content.shape), 30, 220)
    return {
        "content": _save(tmp_path / "content.png", content),
        "style": _save(tmp_path / "style.png", rng.integers(0, 256, (40, 40, 3))),
        "style2": _save(
            tmp_path / "style2.png", np.tile(np.arange(40)[:, None, None] * 6, (1, 40, 3))
        ),
    }


def gatys_cfg(tmp_path, images, *extra):
    return compose_cfg(
        "stylize",
        FAST
        + [
            f"content={images['content']}",
            f"style={images['style']}",
            f"output={tmp_path / 'out.png'}",
        ]
        + list(extra),
        tmp_path,
    )


def test_gatys_writes_the_image_and_its_loss_history(tmp_path, images):
    result = st.stylize(gatys_cfg(tmp_path, images))
    out = tmp_path / "out.png"
    assert result["output"] == out and Image.open(out).size == (32, 32)
    record = json.loads((tmp_path / "out.history.json").read_text())
    # gatys.arch follows model.loss_net.arch (VGG16 by default; gatys.arch=vgg19 for the classic)
    assert record["loss_net"] == "vgg16:random-init" and "smoke" in record["note"]
    history = record["history"]
    assert len(history) == 5 and {"content", "style", "total"} <= set(history[0])
    assert history[-1]["total"] < history[0]["total"]


def test_a_rerun_with_the_same_settings_skips_and_other_settings_rerun(
    tmp_path, images, monkeypatch
):
    st.stylize(gatys_cfg(tmp_path, images))
    calls = []
    real = stylize_gatys.run_gatys
    monkeypatch.setattr(
        stylize_gatys, "run_gatys", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    st.stylize(gatys_cfg(tmp_path, images))
    assert calls == []
    st.stylize(gatys_cfg(tmp_path, images, "gatys.style_weight=10"))
    assert calls == [1]


def test_colour_preservation_keeps_the_content_chroma(tmp_path, images):
    st.stylize(gatys_cfg(tmp_path, images, "preserve_color=true", "gatys.style_weight=1e8"))
    out = to_tensor(Image.open(tmp_path / "out.png").convert("RGB"))
    content = to_tensor(Image.open(images["content"]).convert("RGB"))
    yiq_out, yiq_content = rgb_to_yiq(out), rgb_to_yiq(content)
    assert (yiq_out[:, 1:] - yiq_content[:, 1:]).abs().mean() < 0.01  # chroma kept (8-bit rounding)
    assert (yiq_out[:, :1] - yiq_content[:, :1]).abs().mean() > 0.01  # luminance stylized
    st.stylize(gatys_cfg(tmp_path, images, "gatys.style_weight=1e8"))
    plain = rgb_to_yiq(to_tensor(Image.open(tmp_path / "out.png").convert("RGB")))
    assert (plain[:, 1:] - yiq_content[:, 1:]).abs().mean() > 0.01  # without it chroma changes


def test_blended_styles_with_weight_zero_equal_the_single_style(tmp_path, images):
    st.stylize(gatys_cfg(tmp_path, images))
    single = json.loads((tmp_path / "out.history.json").read_text())["history"]
    both = f"style=[{images['style']},{images['style2']}]"
    st.stylize(gatys_cfg(tmp_path, images, both, "style_weights=[1.0,0.0]"))
    blended = json.loads((tmp_path / "out.history.json").read_text())["history"]
    assert blended[-1]["total"] == pytest.approx(single[-1]["total"], rel=1e-4)
    st.stylize(gatys_cfg(tmp_path, images, both, "style_weights=[0.5,0.5]"))
    other = json.loads((tmp_path / "out.history.json").read_text())["history"]
    assert other[0]["style"] != pytest.approx(single[0]["style"], rel=1e-3)
    with pytest.raises(ValueError, match="one non-negative weight per style"):
        st.stylize(gatys_cfg(tmp_path, images, both, "style_weights=[1.0]"))


def test_mask_limits_the_style_and_is_checked(tmp_path, images):
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255  # same aspect ratio, another size: resized
    _save(tmp_path / "mask.png", np.stack([mask] * 3, -1))
    st.stylize(
        gatys_cfg(tmp_path, images, f"mask={tmp_path / 'mask.png'}", "gatys.style_weight=1e8")
    )
    out = to_tensor(Image.open(tmp_path / "out.png").convert("RGB"))
    content = to_tensor(Image.open(images["content"]).convert("RGB"))
    change = (out - content).abs().mean(dim=(0, 1, 2))
    assert change[16:].mean() > change[:16].mean()  # the masked half moved more

    _save(tmp_path / "wide.png", np.full((10, 40, 3), 255))
    with pytest.raises(ValueError, match="aspect ratios differ"):
        st.stylize(gatys_cfg(tmp_path, images, f"mask={tmp_path / 'wide.png'}"))
    _save(tmp_path / "black.png", np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match="all black"):
        st.stylize(gatys_cfg(tmp_path, images, f"mask={tmp_path / 'black.png'}"))


def test_compare_writes_one_grid_with_content_style_and_each_variant(tmp_path, images):
    result = st.stylize(gatys_cfg(tmp_path, images, "compare=true"))
    grid = Image.open(tmp_path / "out.png")
    assert grid.width == 5 * 192  # content, style, three style weights
    assert [p.name for p in result["variants"]] == ["out.v0.png", "out.v1.png", "out.v2.png"]
    labels = [
        json.loads(p.with_name(p.stem + ".history.json").read_text())["settings"]["gatys"][
            "style_weight"
        ]
        for p in result["variants"]
    ]
    assert labels == pytest.approx([1e4, 1e6, 1e8])
    result = st.stylize(
        gatys_cfg(
            tmp_path, images, "compare=true", "variants=[{style_weight:0.0},{preserve_color:true}]"
        )
    )
    assert len(result["variants"]) == 2 and Image.open(tmp_path / "out.png").width == 4 * 192
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        st.stylize(gatys_cfg(tmp_path, images, "compare=true", "variants=[{colour:1}]"))


def test_bad_inputs_fail_clearly_before_any_work(tmp_path, images, monkeypatch):
    monkeypatch.setattr(
        stylize_gatys, "run_gatys", lambda *a, **k: pytest.fail("optimised despite bad input")
    )
    with pytest.raises(ValueError, match="content=.*missing.png.*does not exist"):
        st.stylize(gatys_cfg(tmp_path, images, f"content={tmp_path / 'missing.png'}"))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="style=.*broken.png"):
        st.stylize(gatys_cfg(tmp_path, images, f"style={tmp_path / 'broken.png'}"))
    with pytest.raises(ValueError, match="style is not set"):
        st.stylize(gatys_cfg(tmp_path, images, "style=null"))
    with pytest.raises(ValueError, match="image file name"):
        st.stylize(gatys_cfg(tmp_path, images, f"output={tmp_path / 'out.txt'}"))
    with pytest.raises(ValueError, match="gatys.optimizer"):
        st.stylize(gatys_cfg(tmp_path, images, "gatys.optimizer=sgd"))
    with pytest.raises(ValueError, match="method="):
        st.stylize(gatys_cfg(tmp_path, images, "method=fast"))


# ---------------------------------------------------------------- johnson


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_stylizer(tmp_path / "ocean.ckpt", TransformerNet(), {"class": "ocean"})


def johnson_cfg(tmp_path, checkpoint, src, *extra):
    return compose_cfg(
        "stylize",
        FAST
        + [
            "method=johnson",
            f"checkpoint={checkpoint}",
            f"input={src}",
            f"output={tmp_path / 'styled'}",
        ]
        + ["johnson.batch_size=2"]
        + list(extra),
        tmp_path,
    )


def test_johnson_on_a_folder_writes_one_output_per_input(tmp_path, checkpoint, monkeypatch):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, shape in [
        ("a.png", (32, 32)),
        ("b.jpg", (32, 32)),
        ("c.png", (20, 36)),
        ("sub/d.png", (32, 32)),
    ]:
        _save(src / name, rng.integers(0, 256, (*shape, 3)))
    (src / "broken.png").write_bytes(b"\x89PNG broken")
    result = st.stylize(johnson_cfg(tmp_path, checkpoint, src))
    out = tmp_path / "styled"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "a.png",
        "b.png",
        "c.png",
        "sub/d.png",
    ]
    assert Image.open(out / "c.png").size == (36, 20)  # any size, kept
    assert [p.name for p in result["skipped"]] == ["broken.png"]
    # a rerun skips finished outputs
    seen = []
    real = stylize_johnson.stylize_batch
    monkeypatch.setattr(
        stylize_johnson, "stylize_batch", lambda net, x, p: seen.append(len(x)) or real(net, x, p)
    )
    st.stylize(johnson_cfg(tmp_path, checkpoint, src))
    assert seen == []
    # a single file, colour-preserved, with a comparison grid
    result = st.stylize(
        johnson_cfg(tmp_path, checkpoint, src / "a.png", "preserve_color=true", "compare=true")
    )
    assert seen == [1] and (out / "compare.png").exists()


def test_johnson_mask_keeps_the_input_outside_the_region(tmp_path, checkpoint):
    src = tmp_path / "in"
    src.mkdir()
    _save(src / "a.png", np.random.default_rng(0).integers(0, 256, (32, 32, 3)))
    mask = np.zeros((32, 32, 3), np.uint8)
    mask[:, :16] = 255
    _save(tmp_path / "mask.png", mask)
    st.stylize(johnson_cfg(tmp_path, checkpoint, src, f"mask={tmp_path / 'mask.png'}"))
    out = np.asarray(Image.open(tmp_path / "styled" / "a.png"), dtype=int)
    inp = np.asarray(Image.open(src / "a.png"), dtype=int)
    assert np.abs(out[:, 16:] - inp[:, 16:]).max() <= 1
    assert np.abs(out[:, :16] - inp[:, :16]).mean() > 5


def test_johnson_rejects_a_file_that_is_not_a_stylizer(tmp_path):
    src = tmp_path / "in.png"
    _save(src, np.zeros((8, 8, 3)))
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(StylizerCheckpointError, match="not a stylaug stylizer checkpoint"):
        st.stylize(johnson_cfg(tmp_path, tmp_path / "other.ckpt", src))
    with pytest.raises(ValueError, match="input=.*does not exist"):
        ckpt = save_stylizer(tmp_path / "x.ckpt", TransformerNet(), {})
        st.stylize(johnson_cfg(tmp_path, ckpt, tmp_path / "nothing"))


def test_final_losses_go_to_the_experiment_logger(tmp_path, images):
    cfg = gatys_cfg(tmp_path, images, "compare=true", "logger=csv")
    st.stylize(cfg)
    metrics = list((tmp_path / "outputs" / "csv").rglob("metrics.csv"))
    assert len(metrics) == 1
    text = metrics[0].read_text()
    assert (
        "gatys/final_total" in text and len(text.strip().splitlines()) == 4
    )  # header + 3 variants
