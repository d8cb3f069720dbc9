import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import stylaug  # noqa: F401  (registers the config resolvers, e.g. augment.tag's)

os.environ["WANDB_MODE"] = "disabled"
os.environ.setdefault("WANDB_SILENT", "true")

from stylaug.core.config import CONFIG_DIR as CONF_DIR  # noqa: E402

PRIMARY_CONFIGS = [
    "pipeline",
    "prepare_data",
    "train_stylizer",
    "train_decoder",
    "augment",
    "classify",
    "report",
    "stylize",
]
# The smallest synthetic dataset the scenario tests can use (scale 0.01 of the paper's counts).
TINY_DATASET = [
    "dataset.image_size=32",
    "dataset.train_per_class=60",
    "dataset.test_per_class=8",
    "dataset.scenario_scale=0.01",
]


def compose_cfg(name: str, overrides=(), root: Path | None = None):
    """Compose a primary config the way the command line would (Hydra's compose API)."""
    extra = [f"paths.root={root}"] if root is not None else []
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides) + extra)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A paths.root holding a prepared tiny synthetic dataset, shared by the whole session."""
    from stylaug.prepare_data.stage import prepare_data

    root = tmp_path_factory.mktemp("root")
    prepare_data(compose_cfg("prepare_data", TINY_DATASET, root))
    return root


@pytest.fixture(scope="session")
def tiny_index(tiny_root):
    from stylaug.data.index import load_index

    return load_index(compose_cfg("prepare_data", TINY_DATASET, tiny_root).dataset)


@pytest.fixture
def one_thread():
    """Tiny CPU tensors: one torch thread avoids OpenMP spin-waiting when the cores are busy."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch):
    """An empty TORCH_HOME with downloads failing as they do on a machine with no network."""
    import torch

    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return tmp_path


@pytest.fixture(scope="session")
def places_fixture(tmp_path_factory) -> Path:
    """A small tree from scripts/make_places365_fixture.py (real photos + planted bad/odd files),
    built once; tests that change files copy it first."""
    from tests.places_fixture import run_script

    path = tmp_path_factory.mktemp("places_fixture")
    (path / "stdout.txt").write_text(
        run_script(path, "--train-per-class", "3", "--val-per-class", "2")
    )
    return path
