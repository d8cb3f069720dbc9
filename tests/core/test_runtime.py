"""core.runtime: a wandb run says nothing about settings stylaug never set."""

from stylaug.core.runtime import finish_logger, make_logger
from tests.conftest import compose_cfg


def test_no_wandb_anonymous_warning_even_when_wandb_is_disabled(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = compose_cfg("report", ["logger=wandb"], tmp_path)
    finish_logger(make_logger(cfg, "run", "group", "report"))
    out, err = capfd.readouterr()
    assert "anonymous" not in out + err
