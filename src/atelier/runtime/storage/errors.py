"""Errors of the storage drivers.

    AtelierError
    ├── ValidationError (400)
    │   ├── InvalidVolumeName       not an Atelier volume name, or the wrong kind for the call
    │   └── ShrinkRefused           resize asked for a smaller size
    ├── NotFound (404)
    │   └── VolumeNotFound          no volume of that name in the pool
    ├── Conflict (409)
    │   ├── VolumeExists            the target name is taken
    │   ├── VolumeHasClones         delete of a base/prebuild that still has clones
    │   ├── VolumeInUse             the device is open (lvm) and cannot be removed
    │   └── VolumeReadOnly          resize of a read-only base or prebuild
    ├── LimitExceeded (429)
    │   └── PoolFull                free space is below the configured reserve
    └── HostError (500)
        └── StorageError            the pool or a driver operation failed
            └── PoolUnavailable     the pool is missing, unmounted or lacks a feature

`PoolFull` is a `LimitExceeded`: HTTP 507 (Insufficient Storage) would describe it best, but
the error root maps to the existing statuses only, and the reserve *is* a configured limit
(`storage.reserve_percent`, `storage.reserve_gb`) that clears once space is freed, which is
what 429 tells a client. 409 would wrongly blame the state of the volume asked for.
"""

from __future__ import annotations

from atelier.errors import Conflict, HostError, LimitExceeded, NotFound, ValidationError


class StorageError(HostError):
    """A storage pool or driver operation failed."""

    code = "storage_error"


class PoolUnavailable(StorageError):
    """The pool does not exist, is not mounted, or lacks what the driver needs."""

    code = "storage_pool_unavailable"


class InvalidVolumeName(ValidationError):
    """The name is not an Atelier volume name of the kind this operation takes."""

    code = "storage_invalid_name"


class ShrinkRefused(ValidationError):
    """Volumes only grow: the guest filesystem cannot be shrunk under a running guest."""

    code = "storage_shrink_refused"


class VolumeNotFound(NotFound):
    """No volume of that name exists in the pool."""

    code = "storage_volume_not_found"


class VolumeExists(Conflict):
    """A volume of that name already exists."""

    code = "storage_volume_exists"


class VolumeHasClones(Conflict):
    """The volume is the origin of clones; delete them first or force."""

    code = "storage_volume_has_clones"


class VolumeInUse(Conflict):
    """The volume's device is open (a running VM) and cannot be removed."""

    code = "storage_volume_in_use"


class VolumeReadOnly(Conflict):
    """The volume is a read-only base or prebuild."""

    code = "storage_volume_read_only"


class PoolFull(LimitExceeded):
    """The pool's free space is below its reserve (or exhausted)."""

    code = "storage_pool_full"
