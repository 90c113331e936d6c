"""A fake Firecracker jailer: checks its arguments, builds the jail directory, starts the VMM.

It does what the real jailer does that the driver depends on (the chroot directory
`<base>/<exec name>/<id>/root`, a copy of the executable in it, the pid file
`<exec name>.pid`, the `--id` and `--` arguments passed on) and records the rest (uid, gid,
cgroups) in `<jail>/fake-jailer.json`, without chroot, namespaces or privilege changes. The
fake Firecracker is told the jail root with `--fake-chroot` so it resolves paths inside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.fakes.firecracker_server import parse_options

_FLAGS = {"daemonize", "new-pid-ns"}
_VALUED = {
    "id",
    "exec-file",
    "uid",
    "gid",
    "chroot-base-dir",
    "cgroup-version",
    "cgroup",
    "parent-cgroup",
    "netns",
    "resource-limit",
}
_REQUIRED = ("id", "exec-file", "uid", "gid")
_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_CGROUP_RE = re.compile(r"^[a-z_]+\.[a-z_.]+=.+$")


def _fail(message: str) -> int:
    sys.stderr.write(f"Jailer error: {message}\n")
    return 1


def main(argv: Sequence[str]) -> int:
    """Run as `jailer`."""
    options, extra = parse_options(argv, _FLAGS | {"version"})
    if "version" in options:
        sys.stdout.write("Jailer v1.17.0-dev\n\n")
        return 0
    unknown = set(options) - _FLAGS - _VALUED
    if unknown:
        return _fail(f"unknown argument --{sorted(unknown)[0]}")
    missing = [name for name in _REQUIRED if name not in options]
    if missing:
        return _fail(f"missing argument --{missing[0]}")
    vm_id = options["id"][0]
    if not _ID_RE.match(vm_id):
        return _fail(f"invalid id {vm_id!r}")
    if not all(value.isdigit() for value in options["uid"] + options["gid"]):
        return _fail("uid and gid must be numbers")
    version = options.get("cgroup-version", ["1"])[0]
    if version not in ("1", "2"):
        return _fail(f"invalid cgroup version {version}")
    bad = [c for c in options.get("cgroup", []) if not _CGROUP_RE.match(c)]
    if bad:
        return _fail(f"invalid cgroup argument {bad[0]!r}")
    exec_file = Path(options["exec-file"][0])
    if not exec_file.is_file():
        return _fail(f"exec file {exec_file} does not exist")
    base = Path(options.get("chroot-base-dir", ["/srv/jailer"])[0])
    root = base / exec_file.name / vm_id / "root"
    root.mkdir(parents=True, exist_ok=True)
    binary = root / exec_file.name
    if binary.exists():
        return _fail(f"{binary} already exists")
    shutil.copyfile(exec_file, binary)
    binary.chmod(0o755)
    details = {"options": options, "extra": extra, "cgroup_version": version}
    (root.parent / "fake-jailer.json").write_text(json.dumps(details))
    pid = os.fork()
    if pid == 0:
        os.chdir(root)
        args = [f"--id={vm_id}", "--start-time-us=0", "--start-time-cpu-us=0"]
        os.execv(binary, [os.fspath(binary), *args, "--fake-chroot", os.fspath(root), *extra])
    (root / f"{exec_file.name}.pid").write_text(f"{pid}\n")
    return 0
