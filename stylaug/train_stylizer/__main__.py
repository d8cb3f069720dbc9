"""``python -m stylaug.train_stylizer``: train one class's Johnson stylizer (or a sweep of them)."""

import hydra
from omegaconf import DictConfig

from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals
from stylaug.train_stylizer.stage import train_stylizer


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train_stylizer")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("train_stylizer"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        train_stylizer(cfg)


if __name__ == "__main__":
    main()
