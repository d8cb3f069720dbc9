"""core.interruption: outside a training loop, SIGTERM and Ctrl+C still end a command with 143 or
130 and a line saying so, after writes in progress have cleaned up."""

import json
import logging
import os
import signal

import pytest

from stylaug.core.interruption import Interrupted, exit_on_stop_signals, stop_signals
from stylaug.core.io import atomic_path, atomic_write_json


def test_sigterm_during_a_write_leaves_the_old_file_no_temp_and_exits_143(tmp_path, caplog):
    target = tmp_path / "index.json"
    atomic_write_json(target, {"old": True})
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped, exit_on_stop_signals("prepare_data"):
        with atomic_path(target) as tmp:
            tmp.write_text('{"new": tr')
            os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.code == 143
    assert "prepare_data interrupted (SIGTERM); rerun the same command to resume" in caplog.text
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]
    assert signal.getsignal(signal.SIGTERM) == handler


def test_ctrl_c_outside_a_loop_exits_130_and_a_stopped_loop_is_said_once(caplog):
    with pytest.raises(Interrupted) as stopped, exit_on_stop_signals("classify"):
        raise KeyboardInterrupt
    assert stopped.value.code == 130 and "classify interrupted (SIGINT)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        with pytest.raises(Interrupted) as stopped, exit_on_stop_signals("augment"):
            with stop_signals("augment johnson"):
                os.kill(os.getpid(), signal.SIGTERM)  # noted; the block ends: stopped after it
    assert stopped.value.code == 143
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "augment johnson stopped after its last step (SIGTERM); rerun the same command to resume"
    ]
