"""The image manifest and the facts it is read from."""

from __future__ import annotations

from pathlib import Path

from atelier.runtime.images import manifest
from tests.unit.runtime.images.factories import manifest as make_manifest

STATUS = """\
Package: python3
Status: install ok installed
Priority: optional
Version: 3.11.2-1+b1
Description: interactive high-level object-oriented language
 continuation line: with a colon

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0

Package: git
Status: install ok installed
Version: 1:2.39.5-0+deb12u3
"""


def test_parse_dpkg_status_keeps_installed_packages_only() -> None:
    assert manifest.parse_dpkg_status(STATUS) == {
        "python3": "3.11.2-1+b1",
        "git": "1:2.39.5-0+deb12u3",
    }


def test_notable_skips_missing_packages() -> None:
    installed = {"python3": "3.11", "git": "2.39"}
    assert manifest.notable(installed, ("git", "sudo")) == {"git": "2.39"}


def test_parse_features() -> None:
    header = (
        "Filesystem volume name:   rootfs\nFilesystem features:      has_journal extent 64bit\n"
    )
    assert manifest.parse_features(header) == ["has_journal", "extent", "64bit"]
    assert manifest.parse_features("nothing") == []


def test_round_trip_ignores_unknown_keys(tmp_path: Path) -> None:
    original = make_manifest()
    manifest.write_manifest(tmp_path, original)
    assert manifest.read_manifest(tmp_path) == original
    data = original.to_json() | {"added_later": 1}
    assert manifest.ImageManifest.from_json(data) == original


def test_agent_protocol_version_is_an_int_or_none() -> None:
    value = manifest.agent_protocol_version()
    assert value is None or isinstance(value, int)
