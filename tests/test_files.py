"""The one atomic writer and folder lock (``pytest_flywheel.files``)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import stat
import time
from pathlib import Path

import pytest

from pytest_flywheel.files import STALE_TEMP_SECONDS, folder_lock, temporary_name, write_atomic

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes and flock are POSIX")


@posix_only
def test_a_new_file_follows_the_umask_like_any_other_file(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.json", "{}\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640


@posix_only
def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "v.jsonl"
    target.write_text("old\n")
    target.chmod(0o600)
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_bytes_and_text_are_written_whole_and_folders_made(tmp_path: Path) -> None:
    write_atomic(tmp_path / "deep" / "b.bin", b"\x00\xff" * 100_000)
    assert (tmp_path / "deep" / "b.bin").read_bytes() == b"\x00\xff" * 100_000
    write_atomic(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_bytes() == "héllo\n".encode()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_old_temporaries_of_killed_writers_are_removed_fresh_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "x.yaml"
    stale, fresh = temporary_name(target), temporary_name(target)
    stale.write_text("left by a killed writer")
    fresh.write_text("another process's write in progress")
    old = time.time() - STALE_TEMP_SECONDS - 10
    os.utime(stale, (old, old))
    write_atomic(target, "done")
    assert not stale.exists() and fresh.exists()


def _hold_lock(folder: str, started: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with folder_lock(Path(folder)):
        started.set()
        release.wait(10)


@posix_only
def test_folder_lock_excludes_another_process_and_leaves_no_file(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    started, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), started, release))
    holder.start()
    try:
        assert started.wait(30)
        import fcntl

        descriptor = os.open(tmp_path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(descriptor)
    finally:
        release.set()
        holder.join(30)
    with folder_lock(tmp_path):  # free again once the holder is gone
        pass
    assert list(tmp_path.iterdir()) == []
