"""Volume name kinds, shrink and clone refusals: the messages every driver shares."""

from __future__ import annotations

import pytest

from atelier.runtime.host import names
from atelier.runtime.storage import InvalidVolumeName, ShrinkRefused, VolumeHasClones
from atelier.runtime.storage._checks import (
    refuse_delete_with_clones,
    refuse_shrink,
    volume_name,
)


def test_volume_names_round_trip_through_names() -> None:
    sbx = names.sandbox_volume("abcdefgh")
    assert volume_name(sbx, ("sbx",), "name").ident == "abcdefgh"
    base = names.base_volume("dev-base", "deadbeefcafe")
    parsed = volume_name(base, ("base", "pre"), "source")
    assert (parsed.kind, parsed.ident, parsed.digest) == ("base", "dev-base", "deadbeef")


def test_wrong_kind_names_field_value_and_allowed() -> None:
    with pytest.raises(InvalidVolumeName) as info:
        volume_name(names.sandbox_volume("abcdefgh"), ("base", "pre"), "source")
    message = info.value.message
    assert "source 'atl-sbx-abcdefgh' is a sbx volume" in message
    assert "atl-base-" in message and "atl-pre-" in message
    assert info.value.field == "source"


def test_foreign_name_refused() -> None:
    with pytest.raises(InvalidVolumeName) as info:
        volume_name("../etc/passwd", ("sbx",), "name")
    assert "not an Atelier volume name" in info.value.message


def test_shrink_refused_with_sizes() -> None:
    refuse_shrink("v", 10, 10)
    refuse_shrink("v", 10, 11)
    with pytest.raises(ShrinkRefused) as info:
        refuse_shrink("v", 2048, 1024)
    assert "1024 (1.0 KiB)" in info.value.message and "only grow" in info.value.message
    assert info.value.field == "size"


def test_clones_named_up_to_ten() -> None:
    refuse_delete_with_clones("b", [])
    clones = [names.sandbox_volume(f"aaaaaa{c}{d}") for c in "ab" for d in "abcdefg"]
    with pytest.raises(VolumeHasClones) as info:
        refuse_delete_with_clones("b", clones)
    assert "14 clone(s)" in info.value.message and "and 4 more" in info.value.message
    assert sorted(clones)[0] in info.value.message
    assert info.value.status == 409
