"""Host resource names: built from ids, within kernel limits, parsed back."""

from __future__ import annotations

import pytest

from atelier.runtime.host import names


def test_new_ids_are_short_dns_safe_and_distinct() -> None:
    ids = {names.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for ident in ids:
        assert names.is_id(ident)
        assert len(ident) == 8 and ident == ident.lower()


def test_tap_round_trip_and_length() -> None:
    ident = names.new_id()
    tap = names.tap_name(ident)
    assert len(tap) <= names.IFNAMSIZ
    assert names.parse_tap(tap) == ident
    assert names.parse_tap("eth0") is None
    assert names.parse_tap("atl-br0") is None


@pytest.mark.parametrize("kind", ["sbx", "pre"])
def test_volume_round_trip(kind: str) -> None:
    ident = names.new_id()
    name = names.sandbox_volume(ident) if kind == "sbx" else names.prebuild_volume(ident)
    parsed = names.parse_volume(name)
    assert parsed is not None and parsed.kind == kind and parsed.ident == ident
    assert str(parsed) == name


def test_base_volume_round_trip() -> None:
    name = names.base_volume("dev-base", "0123456789abcdef")
    assert name == "atl-base-dev-base.01234567"
    parsed = names.parse_volume(name)
    assert parsed == names.VolumeName("base", "dev-base", "01234567")


@pytest.mark.parametrize(
    "foreign", ["root", "atl-sbx-UPPERCAS", "atl-sbx-abc", "vg0-lv", "atl-base-x"]
)
def test_foreign_volume_names_do_not_parse(foreign: str) -> None:
    assert names.parse_volume(foreign) is None


def test_vm_name_round_trip() -> None:
    ident = names.new_id()
    assert names.parse_vm(names.vm_name("dbg", ident)) == ("dbg", ident)
    assert names.parse_vm("qemu-foo") is None


def test_bad_ids_rejected() -> None:
    with pytest.raises(ValueError):
        names.tap_name("../../etc")
    with pytest.raises(ValueError):
        names.check_image_name("Dev_Base")
