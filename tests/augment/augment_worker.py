"""Run augment in a subprocess for the kill-and-resume test, slowed down per written image so the
test can SIGKILL it halfway: python tests/augment_worker.py SECONDS_PER_IMAGE OVERRIDE..."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import stylaug.augment.manifest_writer as M  # noqa: E402
import stylaug.augment.stage as A  # noqa: E402
from tests.conftest import compose_cfg  # noqa: E402

if __name__ == "__main__":
    delay = float(sys.argv[1])
    write = M.write_image

    def slow_write(*args, **kwargs):
        time.sleep(delay)
        return write(*args, **kwargs)

    M.write_image = slow_write
    A.augment(compose_cfg("augment", sys.argv[2:]))
