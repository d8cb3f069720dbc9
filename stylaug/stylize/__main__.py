"""``python -m stylaug.stylize``: stylize arbitrary images (Johnson checkpoint or Gatys optimisation)."""

import hydra
from omegaconf import DictConfig

from stylaug.core.config import CONFIG_DIR
from stylaug.stylize.stage import stylize


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="stylize")
def main(cfg: DictConfig) -> None:
    stylize(cfg)


if __name__ == "__main__":
    main()
