"""Parsing git's machine-readable output (porcelain v2 and numstat, NUL-separated)."""

from __future__ import annotations

from atelier.guest.ops_git import parse_numstat, parse_status

STATUS = (
    b"# branch.oid 1234abcd\0# branch.head feature/x\0# branch.upstream origin/feature/x\0"
    b"# branch.ab +2 -1\0"
    b"1 M. N... 100644 100644 100644 aaa bbb staged.txt\0"
    b"1 .M N... 100644 100644 100644 aaa bbb with space.txt\0"
    b"1 MM N... 100644 100644 100644 aaa bbb both.txt\0"
    b"2 R. N... 100644 100644 100644 aaa bbb R100 new name.txt\0old name.txt\0"
    b"u UU N... 100644 100644 100644 100644 aaa bbb ccc conflict.txt\0"
    b"? untracked.txt\0"
)


def test_status_summary() -> None:
    status = parse_status(STATUS)
    assert (status["branch"], status["upstream"], status["ahead"], status["behind"]) == (
        "feature/x", "origin/feature/x", 2, 1,
    )  # fmt: skip
    assert (status["staged"], status["unstaged"], status["untracked"], status["conflicts"]) == (
        3,
        2,
        1,
        1,
    )
    assert status["dirty"] and status["head"] == "1234abcd"
    paths = [f["path"] for f in status["files"]]
    assert paths == [
        "staged.txt",
        "with space.txt",
        "both.txt",
        "new name.txt",
        "conflict.txt",
        "untracked.txt",
    ]


def test_clean_initial_and_detached() -> None:
    initial = parse_status(b"# branch.oid (initial)\0# branch.head main\0")
    assert initial["head"] is None and not initial["dirty"] and initial["ahead"] is None
    detached = parse_status(b"# branch.oid abc\0# branch.head (detached)\0")
    assert detached["detached"] and detached["branch"] is None


def test_numstat_with_binary_and_rename() -> None:
    data = b"3\t1\ta.txt\x00-\t-\timage.png\x005\t0\t\x00old.txt\x00new.txt\x00"
    stat = parse_numstat(data)
    assert (stat["added"], stat["removed"]) == (8, 1)
    assert [f["path"] for f in stat["files"]] == ["a.txt", "image.png", "new.txt"]
    assert stat["files"][1]["binary"]
