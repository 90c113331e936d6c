"""Optional cgroup v2 groups for jobs and services, so a kill reaches every descendant.

A process group misses children that called setsid(); a cgroup does not. When a writable
cgroup2 root is configured (the init uses `/sys/fs/cgroup/atelier`), each exec job and service
gets its own leaf: the child joins it before exec, `kill()` writes `cgroup.kill` (Linux 5.14+,
with a per-pid SIGKILL fallback) and `remove()` deletes the leaf once it is empty. Without a
root every call is a no-op and process groups do the work.
"""

from __future__ import annotations

import os

from atelier.guest import log


class Cgroups:
    """Creates, kills and removes leaf cgroups under one root directory."""

    def __init__(self, root: str | None) -> None:
        self.root = root if root and self._usable(root) else None

    @staticmethod
    def _usable(root: str) -> bool:
        try:
            os.makedirs(root, exist_ok=True)
            return os.access(f"{root}/cgroup.procs", os.W_OK)
        except OSError as exc:
            log.warn(f"cgroups disabled: cannot use {root}: {exc.strerror}")
            return False

    def create(self, name: str) -> str | None:
        if self.root is None:
            return None
        path = f"{self.root}/{name}"
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            log.warn(f"cannot create cgroup {path}: {exc.strerror}")
            return None
        return path

    def pids(self, path: str | None) -> list[int]:
        if path is None:
            return []
        try:
            with open(f"{path}/cgroup.procs") as fh:
                return [int(line) for line in fh.read().split()]
        except (OSError, ValueError):
            return []

    def kill(self, path: str | None) -> None:
        if path is None:
            return
        try:
            with open(f"{path}/cgroup.kill", "w") as fh:
                fh.write("1")
            return
        except OSError:
            pass
        for pid in self.pids(path):
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def remove(self, path: str | None) -> bool:
        """Delete an empty leaf; False while processes remain."""
        if path is None:
            return True
        try:
            os.rmdir(path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True
