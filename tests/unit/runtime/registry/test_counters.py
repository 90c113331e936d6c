"""Reading logs incrementally, disk usage and eviction by age."""

from __future__ import annotations

import os
from pathlib import Path

from atelier.runtime.registry.counters import Counters, LogCounter, evict, evict_npm

DAY = 86400.0
NOW = 1_900_000_000.0


def count_lines(line: str, counters: Counters) -> None:
    counters.add_request(file=line == "file")


def test_log_counter_reads_only_new_lines_and_restarts_after_truncation(tmp_path: Path) -> None:
    log = tmp_path / "cache.log"
    counter = LogCounter(log, count_lines)
    assert counter.update().file_requests == 0  # no log yet
    log.write_text("file\nindex\nfi")
    assert counter.update().file_requests == 1  # the partial line waits
    with log.open("a") as fh:
        fh.write("le\n")
    assert counter.update().file_requests == 2
    log.write_text("file\n")  # truncated (log rotation)
    assert counter.update().file_requests == 1


def touch(path: Path, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 4096)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_evict_removes_files_unused_for_the_max_age(tmp_path: Path) -> None:
    old = touch(tmp_path / "a" / "old.whl", 40)
    fresh = touch(tmp_path / "b" / "fresh.whl", 2)
    partial = touch(tmp_path / "c" / "x.proxpi-partial", 40)
    result = evict(tmp_path, 30 * DAY, now=NOW, match=lambda p: not p.name.endswith("-partial"))
    assert result.files == 1 and result.bytes >= 4096
    assert not old.exists() and not (tmp_path / "a").exists()
    assert fresh.exists() and partial.exists()


def test_evict_npm_drops_old_tarballs_then_packages_left_without_any(tmp_path: Path) -> None:
    touch(tmp_path / "is-number" / "is-number-7.0.0.tgz", 40)
    touch(tmp_path / "is-number" / "package.json", 40)
    touch(tmp_path / "@types" / "node" / "node-1.0.0.tgz", 40)
    touch(tmp_path / "@types" / "node" / "node-2.0.0.tgz", 1)
    touch(tmp_path / "@types" / "node" / "package.json", 40)
    touch(tmp_path / ".verdaccio-db.json", 400)
    result = evict_npm(tmp_path, 30 * DAY, now=NOW)
    assert not (tmp_path / "is-number").exists()
    assert sorted(p.name for p in (tmp_path / "@types" / "node").iterdir()) == [
        "node-2.0.0.tgz",
        "package.json",
    ]
    assert (tmp_path / ".verdaccio-db.json").exists()
    assert result.files == 3
