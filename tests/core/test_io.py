"""core.io: appends that survive a torn tail, concurrent appenders, writes that name their file."""

import errno
import json
import logging
import multiprocessing
import os

import pytest

from stylaug.core import io as sio
from stylaug.core.io import append_jsonl, atomic_write_json, read_jsonl


def test_a_torn_last_line_is_dropped_with_its_line_named_and_the_next_append_does_not_glue(
    tmp_path, caplog
):
    results = tmp_path / "results.jsonl"
    append_jsonl(results, {"arm": "none", "seed": 0})
    with open(results, "ab") as f:  # what a kill halfway through an append leaves
        f.write(b'{"arm": "style", "se')
    with caplog.at_level(logging.WARNING):
        assert read_jsonl(results) == [{"arm": "none", "seed": 0}]
    assert f"{results}:2: dropped an incomplete last line" in caplog.text
    append_jsonl(results, {"arm": "style", "seed": 0})  # the rerun's row
    assert read_jsonl(results) == [{"arm": "none", "seed": 0}, {"arm": "style", "seed": 0}]
    assert results.read_bytes().endswith(b"\n") and results.read_bytes().count(b"\n") == 2


def test_a_whole_row_missing_only_its_newline_is_kept(tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text('{"a": 1}\n{"a": 2}')
    assert read_jsonl(results) == [{"a": 1}, {"a": 2}]
    append_jsonl(results, {"a": 3})
    assert read_jsonl(results) == [{"a": 1}, {"a": 2}, {"a": 3}]


@pytest.mark.parametrize("bad", [b"{not json}\n", b'"a string"\n', b"\x00\x00\x00\n"])
def test_a_bad_line_that_is_not_the_torn_tail_is_an_error_naming_file_and_line(tmp_path, bad):
    results = tmp_path / "results.jsonl"
    results.write_bytes(b'{"a": 1}\n' + bad + b'{"a": 2}\n')
    with pytest.raises(ValueError, match=rf"{results}:2: "):
        read_jsonl(results)


def _append_rows(path, writer: int, n: int) -> None:
    for i in range(n):
        append_jsonl(path, {"writer": writer, "i": i, "pad": "x" * (97 * i % 3000)})


def test_concurrent_appenders_after_a_crash_lose_no_row(tmp_path):
    """Three jobs at once on one results file that a crashed job left torn."""
    results = tmp_path / "results.jsonl"
    results.write_text('{"writer": -1, "i": 0}\n{"writer": -1, "i"')
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_rows, args=(results, w, 150)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    rows = read_jsonl(results)
    assert sorted((r["writer"], r["i"]) for r in rows) == [(-1, 0)] + [
        (w, i) for w in range(3) for i in range(150)
    ]


def test_a_full_disk_mid_append_names_the_file_and_loses_no_earlier_row(tmp_path, monkeypatch):
    results = tmp_path / "results.jsonl"
    append_jsonl(results, {"row": 1})
    real_write = os.write

    def half_then_full(fd, data):  # the disk fills up halfway through the line
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sio.os, "write", half_then_full)
    with pytest.raises(OSError, match=rf"cannot write {results}: No space left"):
        append_jsonl(results, {"row": 2, "pad": "y" * 100})
    monkeypatch.setattr(sio.os, "write", real_write)  # space again
    assert read_jsonl(results) == [{"row": 1}]
    append_jsonl(results, {"row": 3})
    assert read_jsonl(results) == [{"row": 1}, {"row": 3}]


def test_a_failed_atomic_write_keeps_the_old_file_leaves_no_temp_and_names_the_file(
    tmp_path, monkeypatch
):
    target = tmp_path / "index.json"
    atomic_write_json(target, {"old": True})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sio.os, "fsync", full)
    with pytest.raises(OSError, match=rf"cannot write {target}"):
        atomic_write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]
