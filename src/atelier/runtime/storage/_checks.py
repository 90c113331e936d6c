"""Argument checks every storage driver applies the same way, raising the storage errors."""

from __future__ import annotations

from collections.abc import Sequence

from atelier.runtime.host.names import VolumeKind, VolumeName, parse_volume
from atelier.runtime.storage.base import format_bytes
from atelier.runtime.storage.errors import InvalidVolumeName, ShrinkRefused, VolumeHasClones

_KIND_SHAPES: dict[VolumeKind, str] = {
    "base": "atl-base-<image>.<digest8> (names.base_volume)",
    "pre": "atl-pre-<id> (names.prebuild_volume)",
    "sbx": "atl-sbx-<id> (names.sandbox_volume)",
}
ANY_KIND: tuple[VolumeKind, ...] = ("base", "pre", "sbx")


def volume_name(name: str, kinds: Sequence[VolumeKind], field: str) -> VolumeName:
    """The parsed name, or InvalidVolumeName naming the field, the value and the allowed kinds."""
    parsed = parse_volume(name)
    if parsed is not None and parsed.kind in kinds:
        return parsed
    allowed = " or ".join(_KIND_SHAPES[k] for k in kinds)
    what = "not an Atelier volume name" if parsed is None else f"a {parsed.kind} volume"
    raise InvalidVolumeName(
        f"{field} {name!r} is {what}; allowed here: {allowed}",
        field=field,
        hint="build volume names with atelier.runtime.host.names",
    )


def refuse_shrink(name: str, current: int, wanted: int) -> None:
    """ShrinkRefused when `wanted` is below `current`."""
    if wanted < current:
        raise ShrinkRefused(
            f"size {wanted} ({format_bytes(wanted)}) is smaller than volume {name}'s"
            f" {current} ({format_bytes(current)}); volumes only grow",
            field="size",
            hint="create a new sandbox with a smaller disk_gb instead",
        )


def refuse_delete_with_clones(name: str, clones: Sequence[str]) -> None:
    """VolumeHasClones naming (up to ten of) the clones, when there are any."""
    if not clones:
        return
    shown = ", ".join(sorted(clones)[:10])
    more = f" and {len(clones) - 10} more" if len(clones) > 10 else ""
    raise VolumeHasClones(
        f"volume {name} still has {len(clones)} clone(s): {shown}{more}",
        field="name",
        hint="delete those sandboxes/prebuilds first, or pass force=True to delete it anyway"
        " (existing clones keep their data)",
    )
