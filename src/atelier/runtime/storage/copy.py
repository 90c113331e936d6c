"""The `copy` driver: sandbox volumes as sparse full copies, for filesystems without reflink.

Correct everywhere, never instant: a clone copies every allocated block of its source
(holes stay holes), seconds per GiB, and takes that much pool space. `auto` only falls back
to it with a warning; set up a reflink pool (`atelier storage setup`) instead.
"""

from __future__ import annotations

import os

from atelier.runtime.storage._extents import copy_file
from atelier.runtime.storage._filepool import FilePool


class CopyStorage(FilePool):
    """Sparse copies in a worker thread."""

    name: str = "copy"

    async def _fill(self, src_fd: int, dst_fd: int) -> None:
        await copy_file(src_fd, dst_fd)

    def _cost(self, source: os.stat_result) -> int:
        return source.st_blocks * 512  # every allocated block is copied
