"""Atomic writes leave nothing under a target's name on failure, and what a killed writer left can be removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from shared.atomic import atomic_paths, remove_stale_parts, write_bytes_atomic


def test_a_writer_killed_mid_write_leaves_only_temporary_files_that_remove_stale_parts_deletes(tmp_path):
    target = tmp_path / "T01.edi"
    code = ("import sys, time; from pathlib import Path; from shared.atomic import atomic_paths\n"
            "with atomic_paths(sys.argv[1], sys.argv[1] + '.json') as (a, b):\n"
            "    a.write_text('half'); print('writing', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    write_bytes_atomic(tmp_path / "T01_conventional.edi", b"kept")  # another output of the station
    (tmp_path / ".T01_conventional.abc.part.edi").write_text("someone else's temporary")
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".T01."))
    assert len(left) == 2 and not target.exists()  # the killed writer's two temporaries, no target
    removed = remove_stale_parts(target) + remove_stale_parts(tmp_path / "T01.edi.json")
    assert sorted(p.name for p in removed) == left
    assert sorted(p.name for p in tmp_path.iterdir()) == [".T01_conventional.abc.part.edi", "T01_conventional.edi"]


def test_a_failed_write_leaves_neither_target_nor_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_paths(tmp_path / "a.json") as (tmp,):
        tmp.write_text("{")
        raise RuntimeError("the writer failed")
    assert list(tmp_path.iterdir()) == []
