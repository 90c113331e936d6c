"""systemd unit files for an Atelier host, built by pure functions (`atelier init` writes them).

| unit | runs |
|---|---|
| `atelier-network.service` | `atelier network setup` once at boot (bridge, rules, dnsmasq), before the rest |
| `atelier-manager.service` | `atelier serve`: API, dashboard, SSH gateway, sandbox lifecycle |
| `atelier-verdaccio.service` | the npm cache |
| `atelier-pypi-cache.service` | the PyPI cache (evicts unused files before each start) |
| `atelier-caddy.service` | Caddy (text from `atelier.runtime.proxy.process.systemd_unit`) |
| `<pool>.mount` | the storage pool (text from `atelier.runtime.storage.pool.mount_unit`) |

**Why the manager's unit has `KillMode=process`.** VMs are QEMU/Firecracker processes the
manager spawns into their own sessions; they must survive `systemctl restart` and
`atelier update`, and the next manager re-adopts them. With the default
`KillMode=control-group`, stopping the unit would kill every process in its cgroup,
VMs included. `KillMode=process` signals only the manager's main process; the VMs stay in
the unit's cgroup (systemd logs them as "left-over processes" at the next start, which is
expected) and keep running. The alternative, `Delegate=yes` plus moving every VM into its
own transient scope through systemd's D-Bus API, needs a running systemd at every spawn
and is not testable here; VMs already live in their own sessions, so no signal the manager
receives reaches them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

UNIT_DIR = Path("/etc/systemd/system")
MANAGER = "atelier-manager.service"
NETWORK = "atelier-network.service"
VERDACCIO = "atelier-verdaccio.service"
PYPI_CACHE = "atelier-pypi-cache.service"
CADDY = "atelier-caddy.service"
WANTED_BY = "multi-user.target"


def _quote(arg: str) -> str:
    """One ExecStart argument, quoted for systemd when needed ('%' doubled)."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\"'\\;$"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(argv: Sequence[str | Path]) -> str:
    """An argv as a systemd command line (the program must be an absolute path)."""
    args = [str(a) for a in argv]
    if not args or not args[0].startswith("/"):
        raise ValueError(f"systemd needs an absolute program path, got {args[:1]}")
    return " ".join(_quote(a) for a in args)


def _environment(env: Mapping[str, str]) -> str:
    return "".join(f"Environment={_quote(f'{k}={v}')}\n" for k, v in sorted(env.items()))


@dataclass(frozen=True)
class ManagerUnit:
    """What the manager's unit needs to know."""

    atelier: Path  # absolute path of the `atelier` executable (in its venv)
    config_file: Path
    data_dir: Path
    mounts: tuple[Path, ...] = ()  # RequiresMountsFor: data dir, storage pool
    after: tuple[str, ...] = ()  # cache and proxy units to order after


def manager_unit(unit: ManagerUnit) -> str:
    """`atelier serve` as a service whose restart leaves VMs running (see module doc)."""
    after = " ".join(("network-online.target", NETWORK, *unit.after))
    mounts = " ".join(_quote(str(m)) for m in (unit.data_dir, *unit.mounts))
    return (
        "# Written by `atelier init`.\n"
        "[Unit]\n"
        "Description=Atelier manager (API, dashboard, SSH gateway, sandboxes)\n"
        f"After={after}\n"
        f"Wants=network-online.target {NETWORK}\n"
        f"RequiresMountsFor={mounts}\n"
        "StartLimitIntervalSec=300\n"
        "StartLimitBurst=10\n"
        "\n"
        "[Service]\n"
        "Type=exec\n"
        f"ExecStart={exec_line([unit.atelier, 'serve'])}\n"
        f"{_environment({'ATELIER_CONFIG': str(unit.config_file)})}"
        f"WorkingDirectory={_quote(str(unit.data_dir))}\n"
        "# VMs run in their own sessions and must outlive restarts and updates.\n"
        "KillMode=process\n"
        "TimeoutStopSec=30\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "UMask=0077\n"
        "LimitNOFILE=1048576\n"
        "TasksMax=infinity\n"
        "\n"
        "[Install]\n"
        f"WantedBy={WANTED_BY}\n"
    )


def network_unit(atelier: Path, config_file: Path) -> str:
    """`atelier network setup` once at boot: absolute path, never interactive, idempotent."""
    return (
        "# Written by `atelier init`.\n"
        "[Unit]\n"
        "Description=Atelier sandbox network (bridge, isolation rules, resolver)\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        f"Before={MANAGER} {VERDACCIO} {PYPI_CACHE}\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart={exec_line([atelier, 'network', 'setup'])}\n"
        f"{_environment({'ATELIER_CONFIG': str(config_file)})}"
        "\n"
        "[Install]\n"
        f"WantedBy={WANTED_BY}\n"
    )


@dataclass(frozen=True)
class CacheUnit:
    """One package cache as a service."""

    description: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: Path
    state_dir: Path  # the only writable path
    log: Path
    pre_start: tuple[str, ...] = ()  # a command run before each start (eviction)


def cache_unit(unit: CacheUnit) -> str:
    """A cache server on a read-only system, writable only in its state directory; its
    output is appended to the log the hit counters read."""
    # "-": a failed eviction (e.g. no storage yet) must not stop the cache from starting.
    pre = f"ExecStartPre=-{exec_line(unit.pre_start)}\n" if unit.pre_start else ""
    return (
        "# Written by `atelier init`.\n"
        "[Unit]\n"
        f"Description={unit.description}\n"
        f"After=network-online.target {NETWORK}\n"
        "Wants=network-online.target\n"
        f"Before={MANAGER}\n"
        f"RequiresMountsFor={_quote(str(unit.state_dir))}\n"
        "\n"
        "[Service]\n"
        "Type=exec\n"
        f"{pre}"
        f"ExecStart={exec_line(unit.argv)}\n"
        f"{_environment(dict(unit.env))}"
        f"WorkingDirectory={_quote(str(unit.workdir))}\n"
        f"StandardOutput=append:{unit.log}\n"
        f"StandardError=append:{unit.log}\n"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "UMask=0022\n"
        "NoNewPrivileges=yes\n"
        "ProtectSystem=strict\n"
        "ProtectHome=yes\n"
        "PrivateTmp=yes\n"
        "PrivateDevices=yes\n"
        "ProtectKernelTunables=yes\n"
        "ProtectControlGroups=yes\n"
        "CapabilityBoundingSet=\n"
        f"ReadWritePaths={_quote(str(unit.state_dir))}\n"
        "\n"
        "[Install]\n"
        f"WantedBy={WANTED_BY}\n"
    )


def evict_argv(storage: Path, max_age_days: int, suffix_kept: str = "") -> tuple[str, ...]:
    """`find` deleting files neither read nor written for `max_age_days` (ExecStartPre)."""
    days = str(max(0, max_age_days - 1))  # find's +N means "more than N whole days"
    keep = ("!", "-name", f"*{suffix_kept}") if suffix_kept else ()
    return (
        "/usr/bin/find", str(storage), "-type", "f", *keep,
        "-atime", f"+{days}", "-mtime", f"+{days}", "-delete",
    )  # fmt: skip
