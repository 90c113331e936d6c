"""CLI usage errors print click's short message and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from atelier.cli.app import main


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sandbox", "show"], "Missing argument"),
        (["no-such-command"], "No such command"),
        (["sandbox", "list", "--bogus"], "No such option"),
        (["sandbox", "exec", "abc12345", "--"], "give the program to run"),
    ],
)
def test_usage_errors_are_short(
    args: list[str], says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["atelier", *args])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert says in capsys.readouterr().err
