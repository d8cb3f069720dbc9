"""``python -m stylaug.classify``: train and test the classifier's arms of one scenario and seed."""

import hydra
from omegaconf import DictConfig

from stylaug.classify.stage import classify
from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="classify")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("classify"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        classify(cfg)


if __name__ == "__main__":
    main()
