"""Definition files for `atelier workspace apply`: secret sources resolved on the caller's side."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.cli import _workspace_file as wsfile
from atelier.errors import ValidationError


def test_secret_sources_become_names_and_write_only_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "npmrc").write_text("//registry/:_authToken=abc\n")
    monkeypatch.setenv("ATL_TEST_SECRET", "from-env")
    text = """
name: shop
secrets:
  env:
    API_KEY: {fromEnv: ATL_TEST_SECRET}
    LITERAL: plain-value
    LATER: null
  files:
    - {name: npmrc, path: ~/.npmrc, fromFile: npmrc}
"""
    definition, values = wsfile.split_secrets(wsfile.parse(text), tmp_path)
    assert definition["secrets"] == {
        "env": ["API_KEY", "LITERAL", "LATER"],
        "files": [{"name": "npmrc", "path": "~/.npmrc"}],
    }
    assert values == {
        "API_KEY": "from-env",
        "LITERAL": "plain-value",
        "npmrc": "//registry/:_authToken=abc\n",
    }
    assert wsfile.parse(wsfile.render(definition)) == definition


def test_bad_files_and_sources_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="mapping"):
        wsfile.parse("- a\n- b\n")
    with pytest.raises(ValidationError, match="is not set"):
        wsfile.split_secrets(
            {"secrets": {"env": {"X": {"fromEnv": "ATL_TEST_UNSET_VAR"}}}}, tmp_path
        )
    with pytest.raises(ValidationError, match=r"secrets\.env\.X"):
        wsfile.split_secrets({"secrets": {"env": {"X": {"nope": 1}}}}, tmp_path)
