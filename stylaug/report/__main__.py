"""``python -m stylaug.report``: aggregate every result row into the report's tables and plots."""

import hydra
from omegaconf import DictConfig

from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals
from stylaug.report.stage import report


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="report")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("report"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        report(cfg)


if __name__ == "__main__":
    main()
