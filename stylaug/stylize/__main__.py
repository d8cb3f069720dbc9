"""``python -m stylaug.stylize``: stylize arbitrary images (Johnson checkpoint or Gatys optimisation)."""

import hydra
from omegaconf import DictConfig

from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals
from stylaug.stylize.stage import stylize


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="stylize")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("stylize"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        stylize(cfg)


if __name__ == "__main__":
    main()
