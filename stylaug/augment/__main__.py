"""``python -m stylaug.augment``: stylize training images with the stylizer of their class, scenario and seed."""

import hydra
from omegaconf import DictConfig

from stylaug.augment.stage import augment
from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="augment")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("augment"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        augment(cfg)


if __name__ == "__main__":
    main()
