"""A head on cached features: the plain loop (``fit_plain``) gives Lightning's result exactly."""

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import TensorDataset

from stylaug.classify.arm_training import ArmData, fit_lightning, fit_plain, new_head
from stylaug.classify.linear_head import EpochShuffle, LinearHead
from tests.conftest import compose_cfg

CLASSES, DIM = ["a", "b", "c", "d"], 8


def features(n: int, views: int, seed: int, signal: float = 4.0) -> TensorDataset:
    """Random (x, label, ok) with a class signal that makes validation accuracy plateau (ties for
    the best epoch), every 7th row unreadable (ok=False)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(len(CLASSES), (n,), generator=g)
    x = torch.randn((n, views, DIM) if views else (n, DIM), generator=g)
    hot = signal * torch.nn.functional.one_hot(y, len(CLASSES))
    x[..., : len(CLASSES)] += hot[:, None] if views else hot
    return TensorDataset(x, y, torch.arange(n) % 7 != 3)


def job(tmp_path, views: int, precision: str = "32-true"):
    cfg = compose_cfg(
        "classify",
        ["trainer=cpu", f"trainer.precision={precision}", "classifier.epochs=8",
         "classifier.batch_size=16", "classifier.lr=0.05", "logger=none", "seed=5"],
        tmp_path,
    )  # fmt: skip
    # 230 training rows: a last, shorter batch; 1100 validation rows: three eval batches of 500
    data = ArmData(features(230, views, 1), features(1100, 0, 2), features(60, 0, 3), None, 0)
    j = SimpleNamespace(
        cfg=cfg, features=SimpleNamespace(backbone=SimpleNamespace(dim=DIM)), classes=CLASSES
    )
    return j, data


class Record(pl.loggers.Logger):
    """The metrics a fit logs, by name, in order."""

    name, version = "record", 0

    def __init__(self):
        super().__init__()
        self.metrics: dict[str, list] = {}

    def log_metrics(self, metrics, step=None):
        for k, v in metrics.items():
            self.metrics.setdefault(k, []).append(float(v))

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def both(tmp_path, views: int, precision: str = "32-true"):
    """(head, predictions, targets, logged metrics) from Lightning, then from the plain loop."""
    j, data = job(tmp_path, views, precision)
    out = []
    for fit in (fit_lightning, fit_plain):
        head, logger = new_head(j, "arm", data), Record()
        pred, target = fit(j, head, data, logger)
        out.append((head, pred, target, logger.metrics))
    return out


def differences(a, b) -> list[str]:
    """What differs between two (head, predictions, targets, metrics) results."""
    (ha, pa, ta, ma), (hb, pb, tb, mb) = a, b
    diffs = [] if (pa == pb).all() and (ta == tb).all() else ["predictions"]
    if len(ha.val_history) != len(hb.val_history) or any(
        abs(x - y) > 1e-6 for x, y in zip(ha.val_history, hb.val_history, strict=False)
    ):
        diffs.append("val_history")
    diffs += [
        f for f in ("best_epoch", "best_acc", "train_seen") if getattr(ha, f) != getattr(hb, f)
    ]
    if not all(
        torch.equal(ha.state_dict()[k], hb.state_dict()[k]) for k in ("fc.weight", "fc.bias")
    ):
        diffs.append("best state")
    logged = [
        (x, y)
        for key in ("arm/val_acc", "arm/train_loss")
        for x, y in zip(ma[key], mb[key], strict=True)
    ]
    if any(abs(x - y) > 1e-6 * max(abs(x), 1) for x, y in logged):  # Lightning logs float32
        diffs.append("logged metrics")
    return diffs


@pytest.mark.parametrize("views", [0, 3])
def test_plain_loop_trains_the_head_lightning_trains(tmp_path, views):
    light, plain = both(tmp_path, views)
    assert differences(light, plain) == []
    head = plain[0]
    assert head.train_seen == sum(1 for i in range(230) if i % 7 != 3)
    assert len(head.val_history) == 8 and plain[3]["arm/val_acc"] == head.val_history
    # the best-epoch rule is tested only if some later epoch ties the best one
    best = max(head.val_history)
    assert head.val_history.count(best) > 1 and head.best_epoch == head.val_history.index(best)


def test_plain_loop_reproduces_bf16_mixed(tmp_path):
    """trainer=gpu's precision: autocast to bfloat16 around each step, as Lightning does."""
    light, plain = both(tmp_path, 0, "bf16-mixed")
    assert differences(light, plain) == []
    assert "val_history" in differences(plain, both(tmp_path, 0)[1])  # bf16 made a difference


def test_a_different_order_or_best_epoch_rule_is_caught(tmp_path, monkeypatch):
    """The comparison above would fail if the plain loop drew another order or kept the last
    best epoch instead of the first."""
    light, _ = both(tmp_path, 0)
    j, data = job(tmp_path, 0)

    def plain_with(target, name, replacement):
        with monkeypatch.context() as m:
            m.setattr(target, name, replacement)
            head = new_head(j, "arm", data)
            logger = Record()
            return (head, *fit_plain(j, head, data, logger), logger.metrics)

    order = EpochShuffle.order
    shifted = plain_with(EpochShuffle, "order", lambda s: order(EpochShuffle(s.n, s.seed + 1)))
    assert "predictions" in differences(light, shifted) or "best state" in differences(
        light, shifted
    )

    def last_best(head, acc, epoch):
        head.val_history.append(acc)
        if acc >= head.best_acc:
            head.best_acc, head.best_epoch = acc, epoch
            head.best_state = {k: v.clone() for k, v in head.state_dict().items()}

    assert "best_epoch" in differences(light, plain_with(LinearHead, "end_epoch", last_best))


def test_train_and_test_uses_lightning_only_where_the_plain_loop_does_not_apply(
    tmp_path, monkeypatch
):
    import stylaug.classify.arm_training as arm_training

    def no_trainer(*args, **kwargs):
        raise AssertionError("a Trainer was made")

    monkeypatch.setattr(arm_training, "make_trainer", no_trainer)
    j, data = job(tmp_path, 3)
    head, pred, _ = arm_training.train_and_test(j, "arm", data, False)
    assert len(pred) == int(data.test.tensors[2].sum()) and head.fc.weight.device.type == "cpu"
    j, data = job(tmp_path, 0, "16-mixed")  # a precision the plain loop does not reproduce
    with pytest.raises(AssertionError, match="Trainer was made"):
        arm_training.train_and_test(j, "arm", data, False)
