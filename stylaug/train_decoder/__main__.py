"""``python -m stylaug.train_decoder``: train the AdaIN decoder of one scenario training set."""

import hydra
from omegaconf import DictConfig

from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals
from stylaug.train_decoder.stage import train_decoder


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train_decoder")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("train_decoder"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        train_decoder(cfg)


if __name__ == "__main__":
    main()
