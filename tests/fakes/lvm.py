"""A fake LVM for the lvm-thin driver: a Runner that understands the commands it builds.

It keeps one volume group with a thin pool in memory and backs each thin LV with a sparse
file under `dev_dir/<vg>/<lv>` (snapshots copy their origin's bytes), so the driver's whole
flow, including writing an image into a device, runs without device-mapper. Sizes round up
to 4 MiB extents like LVM; a snapshot inherits its origin's permission (the case the driver
must undo for clones). Unknown commands fail loudly; `fail` makes the next run of a
command fail with the given stderr.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from atelier.errors import CommandError
from atelier.runtime.host.proc import Completed

EXTENT = 4 * 1024**2


@dataclass
class FakeLv:
    """One logical volume."""

    name: str
    size: int
    tags: list[str]
    origin: str = ""
    writable: bool = True
    is_open: bool = False


@dataclass
class FakeLvm:
    """The Runner: call it like proc.run. `commands` records every argv."""

    dev_dir: Path
    vg: str = "atelier"
    pool: str = "atl-thinpool"
    pool_size: int = 1024**3
    metadata_percent: float = 1.0
    lvs: dict[str, FakeLv] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)  # command -> stderr, fails once

    async def __call__(
        self, argv: Sequence[str], *, timeout: float, check: bool = True
    ) -> Completed:
        args = [str(a) for a in argv]
        self.commands.append(args)
        if args[0] in self.fail:
            return self._fail(args, self.fail.pop(args[0]), check)
        handler = getattr(self, f"_{args[0]}", None)
        if handler is None:
            return self._fail(args, f"fake lvm does not know {args[0]}", check)
        try:
            out = handler(args[1:])
        except _Failed as exc:
            return self._fail(args, str(exc), check)
        return Completed(args, 0, out.encode(), b"")

    def _fail(self, args: list[str], message: str, check: bool) -> Completed:
        if check:
            raise CommandError(args, 5, message)
        return Completed(args, 5, b"", message.encode())

    def device(self, name: str) -> Path:
        return self.dev_dir / self.vg / name

    # --- commands --------------------------------------------------------------------

    def _lvcreate(self, args: list[str]) -> str:
        opts, positional, tags = _parse(args)
        name = opts["--name"]
        if name in self.lvs:
            raise _Failed(f'Logical Volume "{name}" already exists in volume group "{self.vg}"')
        if "--snapshot" in opts:
            origin = self._lv(positional[0])
            lv = FakeLv(name, origin.size, tags, origin.name, origin.writable)
            self.device(name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.device(origin.name), self.device(name))
        else:
            if positional != [self.vg] or opts.get("--thinpool") != self.pool:
                raise _Failed(f"no thin pool {positional}/{opts.get('--thinpool')}")
            lv = FakeLv(name, _round(_bytes(opts["--virtualsize"])), tags)
            self.device(name).parent.mkdir(parents=True, exist_ok=True)
            with open(self.device(name), "wb") as dev:
                dev.truncate(lv.size)
        self.lvs[name] = lv
        return f'  Logical volume "{name}" created.\n'

    def _lvchange(self, args: list[str]) -> str:
        opts, positional, _ = _parse(args)
        self._lv(positional[0]).writable = opts["--permission"] == "rw"
        return ""

    def _lvextend(self, args: list[str]) -> str:
        opts, positional, _ = _parse(args)
        lv = self._lv(positional[0])
        size = _round(_bytes(opts["--size"]))
        if size < lv.size:
            raise _Failed("New size given is not larger than existing size")
        lv.size = size
        os.truncate(self.device(lv.name), size)
        return ""

    def _lvremove(self, args: list[str]) -> str:
        _, positional, _ = _parse(args)
        lv = self._lv(positional[0])
        if lv.is_open:
            raise _Failed(f"Logical volume {self.vg}/{lv.name} in use.")
        del self.lvs[lv.name]
        self.device(lv.name).unlink()
        return ""

    def _lvs(self, args: list[str]) -> str:
        opts, positional, _ = _parse(args)
        fields = opts["-o"].split(",")
        target = positional[0]
        if target == f"{self.vg}/{self.pool}":
            rows = [self._pool_row()]
        elif target == self.vg:
            rows = [self._pool_row()] + [self._row(lv) for lv in self.lvs.values()]
        else:
            raise _Failed(f"Failed to find logical volume {target}")
        report = [{name: row.get(name, "") for name in fields} for row in rows]
        return json.dumps({"report": [{"lv": report}]})

    # --- state -----------------------------------------------------------------------

    def _lv(self, ref: str) -> FakeLv:
        vg, _, name = ref.partition("/")
        if vg != self.vg or name not in self.lvs:
            raise _Failed(f"Failed to find logical volume {ref}")
        return self.lvs[name]

    def _allocated(self, lv: FakeLv) -> int:
        return os.stat(self.device(lv.name)).st_blocks * 512

    def _row(self, lv: FakeLv) -> dict[str, str]:
        attr = f"V{'w' if lv.writable else 'r'}i-a{'o' if lv.is_open else '-'}tz--"
        return {
            "lv_name": lv.name,
            "lv_size": str(lv.size),
            "lv_attr": attr,
            "lv_tags": ",".join(lv.tags),
            "origin": lv.origin,
            "pool_lv": self.pool,
            "data_percent": f"{100 * self._allocated(lv) / lv.size:.2f}",
            "lv_path": str(self.device(lv.name)),
        }

    def _pool_row(self) -> dict[str, str]:
        used = sum(self._allocated(lv) for lv in self.lvs.values())
        return {
            "lv_name": self.pool,
            "lv_size": str(self.pool_size),
            "lv_attr": "twi-aotz--",
            "lv_tags": "",
            "data_percent": f"{100 * used / self.pool_size:.2f}",
            "metadata_percent": f"{self.metadata_percent:.2f}",
        }


class _Failed(Exception):
    pass


_FLAGS = {"--yes", "--snapshot", "--nosuffix"}


def _parse(args: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    opts: dict[str, str] = {}
    positional: list[str] = []
    tags: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in _FLAGS:
            opts[arg] = ""
            index += 1
        elif arg.startswith("-"):
            if arg == "--addtag":
                tags.append(args[index + 1])
            opts[arg] = args[index + 1]
            index += 2
        else:
            positional.append(arg)
            index += 1
    return opts, positional, tags


def _bytes(value: str) -> int:
    if not value.endswith("b"):
        raise _Failed(f"fake lvm wants sizes in bytes, got {value}")
    return int(value[:-1])


def _round(size: int) -> int:
    return -(-size // EXTENT) * EXTENT
