"""PID 1's mounts and kernel hardening, through mount(2) and reboot(2) via ctypes.

Stage 1 moves /dev, /proc and /sys into the root filesystem; this module mounts the rest
(devpts, /dev/shm, /tmp, /run if missing, cgroup2), remounts / read-write if needed, and
hides the boot token: a scrubbed copy of the command line is bind-mounted read-only over
/proc/cmdline and dmesg is restricted to root. Every step reports failures instead of raising,
so a missing feature degrades the boot rather than stopping it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
RB_DISABLE_CAD = 0  # LINUX_REBOOT_CMD_CAD_OFF
RB_POWER_OFF = 0x4321FEDC
RB_AUTOBOOT = 0x01234567

_libc: list[Any] = []


def _c() -> Any:
    if not _libc:
        import ctypes

        _libc.append(ctypes.CDLL(None, use_errno=True))
    return _libc[0]


def mount(
    source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    """mount(2); raises OSError."""
    import ctypes

    libc = _c()
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    if libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _ismount(path: str) -> bool:
    return os.path.ismount(path)


PLAN = (
    # target, fstype, source, flags, options, mode of the directory
    ("/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, 0o555),
    ("/sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, 0o555),
    ("/dev", "devtmpfs", "devtmpfs", MS_NOSUID, "mode=0755", 0o755),
    ("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666", 0o755),
    ("/dev/shm", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 0o1777),
    ("/run", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0o755),
    ("/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 0o1777),
    ("/sys/fs/cgroup", "cgroup2", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate", 0o555),
)


def early_mounts() -> list[str]:
    """Mount what is missing; returns error lines."""
    errors = []
    for target, fstype, source, flags, options, mode in PLAN:
        if _ismount(target):
            continue
        try:
            os.makedirs(target, mode, exist_ok=True)
            mount(source, target, fstype, flags, options)
        except OSError as exc:
            errors.append(f"mount {fstype} on {target}: {exc.strerror}")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        try:
            os.symlink(target, f"/dev/{name}")
        except OSError:
            pass
    if os.statvfs("/").f_flag & os.ST_RDONLY:
        try:
            mount("/", "/", None, MS_REMOUNT)
        except OSError as exc:
            errors.append(f"remount / read-write: {exc.strerror}")
    return errors


def hide_cmdline(scrubbed: str, copy_path: str) -> list[str]:
    """Bind a scrubbed command line over /proc/cmdline and restrict dmesg; returns errors."""
    errors = []
    try:
        with open(copy_path, "w") as fh:
            fh.write(scrubbed)
        os.chmod(copy_path, 0o444)
        mount(copy_path, "/proc/cmdline", None, MS_BIND)
        mount(copy_path, "/proc/cmdline", None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    except OSError as exc:
        errors.append(f"hide /proc/cmdline: {exc.strerror}")
    for key, value in (("kernel/dmesg_restrict", "1"), ("kernel/kptr_restrict", "1")):
        try:
            with open(f"/proc/sys/{key}", "w") as fh:
                fh.write(value)
        except OSError as exc:
            errors.append(f"sysctl {key}: {exc.strerror}")
    return errors


def take_ctrl_alt_del() -> str | None:
    """Make the kernel send SIGINT to PID 1 on Ctrl-Alt-Del instead of rebooting at once.

    The VMMs' clean-stop request (QEMU send-key, Firecracker SendCtrlAltDel) is a
    Ctrl-Alt-Del; with this the init stops services and syncs before the VM ends.
    Returns an error text, or None.
    """
    try:
        _c().reboot(RB_DISABLE_CAD)
    except OSError as exc:
        return f"cannot take over Ctrl-Alt-Del: {exc.strerror}"
    return None


def power_off(reboot: bool = False) -> None:
    """sync, remount / read-only, then reboot(2) (sysrq as a fallback); does not return."""
    os.sync()
    try:
        mount("/", "/", None, MS_REMOUNT | MS_RDONLY)
    except OSError:
        pass  # busy: the journal and the sync above keep the filesystem consistent
    os.sync()
    try:
        _c().reboot(RB_AUTOBOOT if reboot else RB_POWER_OFF)
    except OSError:
        pass
    with open("/proc/sysrq-trigger", "w") as fh:
        fh.write("b" if reboot else "o")
