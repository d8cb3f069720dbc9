"""Every missing-weights error offers the way to run offline with pretrained weights, not only
random ones."""

import pytest

from stylaug.models.segmentation import build_segmenter
from stylaug.models.weights import PretrainedWeightsMissing, build


@pytest.mark.parametrize(
    "key", ["model.loss_net.weights", "model.backbone.weights", "gatys.weights"]
)
def test_the_offline_pretrained_network_is_offered(offline_torch_home, key):
    with pytest.raises(PretrainedWeightsMissing) as err:
        build("vgg16", "imagenet", key)
    msg = str(err.value)
    arch = key.rsplit(".", 1)[0] + ".arch"
    assert f"{arch}=efficientnet_lite0" in msg and "experiment=demo" in msg
    assert f"{key}=random" in msg  # still offered, after the pretrained way


def test_a_segmenter_says_none_ships_offline(offline_torch_home):
    with pytest.raises(PretrainedWeightsMissing) as err:
        build_segmenter("lraspp_mobilenet_v3_large", "pretrained")
    msg = str(err.value)
    assert "No pretrained network of this kind ships with stylaug" in msg
    assert "segmentation.weights=random" in msg
