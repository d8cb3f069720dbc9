"""``python -m stylaug.prepare_data``: write the synthetic dataset, or index a dataset in place."""

import hydra
from omegaconf import DictConfig

from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals
from stylaug.prepare_data.stage import prepare_data


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare_data")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("prepare_data"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        prepare_data(cfg)


if __name__ == "__main__":
    main()
