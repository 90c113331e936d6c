"""The `reflink` driver: sandbox volumes as FICLONE clones on btrfs or XFS (reflink=1).

A clone shares every extent with its source, so it takes the same few hundred microseconds
whatever the image size; blocks are copied only when a guest overwrites them. Importing a
base from another filesystem is a sparse copy in a thread. btrfs usage comes from
`btrfs filesystem du`, other filesystems' from FIEMAP extent flags.
"""

from __future__ import annotations

import builtins
import errno
import logging
import os
from pathlib import Path

from atelier.errors import AtelierError
from atelier.runtime.host import proc
from atelier.runtime.storage._extents import Sharing, copy_file, ficlone, fiemap_sharing
from atelier.runtime.storage._filepool import FilePool
from atelier.runtime.storage.errors import PoolUnavailable

BTRFS_DU_TIMEOUT = 300.0

log = logging.getLogger(__name__)


class ReflinkStorage(FilePool):
    """Copy-on-write file clones through the FICLONE ioctl."""

    name: str = "reflink"

    async def _fill(self, src_fd: int, dst_fd: int) -> None:
        try:
            ficlone(src_fd, dst_fd)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise PoolUnavailable(
                    f"storage pool {self.pool_dir} cannot reflink ({exc.strerror}); the"
                    " reflink driver needs btrfs or XFS with reflink=1",
                    field="storage.driver",
                    hint="run `atelier storage setup`, or set storage.driver to copy",
                ) from exc
        # Another filesystem (an image imported from outside the pool): copy the data once.
        await copy_file(src_fd, dst_fd)

    def _cost(self, source: os.stat_result) -> int:
        del source
        return 0  # a clone shares every block with its source

    def _import_cost(self, source: os.stat_result) -> int:
        try:
            same_fs = source.st_dev == os.stat(self.pool_dir).st_dev
        except OSError:
            same_fs = False
        return 0 if same_fs else source.st_blocks * 512

    async def _sharing(self, paths: builtins.list[Path], fs: str) -> Sharing:
        if fs != "btrfs" or not paths or proc.which("btrfs") is None:
            return await fiemap_sharing(paths)
        try:
            files = await proc.run(
                ["btrfs", "filesystem", "du", "--raw", *paths], timeout=BTRFS_DU_TIMEOUT
            )
            whole = await proc.run(
                ["btrfs", "filesystem", "du", "--raw", "--summarize", self.pool_dir],
                timeout=BTRFS_DU_TIMEOUT,
            )
        except AtelierError as exc:  # e.g. not root: btrfs du needs CAP_SYS_ADMIN
            log.debug("btrfs filesystem du failed, using FIEMAP: %s", exc.message)
            return await fiemap_sharing(paths)
        per_file = parse_btrfs_du(files.text)
        pool = parse_btrfs_du(whole.text).get(str(self.pool_dir))
        return Sharing(
            files={Path(p): (shared, exclusive) for p, (_, exclusive, shared) in per_file.items()},
            shared=pool[2] if pool else None,
            exclusive=pool[1] if pool else None,
        )


def parse_btrfs_du(text: str) -> dict[str, tuple[int, int, int]]:
    """`btrfs filesystem du --raw` output as {path: (total, exclusive, set shared)}."""
    result = {}
    for line in text.splitlines():
        fields = line.split(maxsplit=3)
        if len(fields) != 4 or not fields[0].isdigit():
            continue  # the header, or a '-' for a file btrfs cannot account
        if not (fields[1].isdigit() and fields[2].isdigit()):
            continue
        result[fields[3]] = (int(fields[0]), int(fields[1]), int(fields[2]))
    return result
