"""Kernel modules of the cloud kernel: which ones a sandbox gets, and in what order to load.

Pure functions over `modules.dep` and `modules.builtin` text. `BOOT_MODULES` are loaded by
the boot bundle's `/init` (virtio transports and devices, vsock); `EXTRA_MODULES` and
`EXTRA_PREFIXES` are shipped so that `modprobe` works in the guest for what developers run
(Docker/Podman networking, nftables/iptables, overlayfs, FUSE, bridges, tunnels).
"""

from __future__ import annotations

from collections.abc import Iterable

# Load order matters only among independent modules; dependencies always come first.
BOOT_MODULES: tuple[str, ...] = (
    "virtio",
    "virtio_ring",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "virtio_mmio",
    "virtio_blk",
    "virtio_net",
    "virtio_console",
    "vsock",
    "vmw_vsock_virtio_transport_common",
    "vmw_vsock_virtio_transport",
    "virtio_rng",
    "virtio_balloon",
)

EXTRA_MODULES: tuple[str, ...] = (
    "ipv6",
    "overlay",
    "fuse",
    "virtiofs",
    "loop",
    "bridge",
    "br_netfilter",
    "veth",
    "tun",
    "macvlan",
    "macvtap",
    "ipvlan",
    "vxlan",
    "dummy",
    "8021q",
    "sch_ingress",
    "cls_bpf",
    "act_bpf",
    "cls_cgroup",
)

# Whole directories (relative to lib/modules/<release>/): every netfilter piece.
EXTRA_PREFIXES: tuple[str, ...] = (
    "kernel/net/netfilter/",
    "kernel/net/ipv4/netfilter/",
    "kernel/net/ipv6/netfilter/",
    "kernel/net/bridge/",
)

_SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko")


def module_name(path: str) -> str:
    """The module name of a path in modules.dep (`-` and `_` are the same to the kernel)."""
    base = path.rsplit("/", 1)[-1]
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, tuple[str, ...]]:
    """modules.dep as {module path: dependency paths}."""
    result: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, deps = line.split(":", 1)
        result[path.strip()] = tuple(deps.split())
    return result


def parse_builtin(text: str) -> set[str]:
    """The names of modules built into the kernel, from modules.builtin."""
    return {module_name(line.strip()) for line in text.splitlines() if line.strip()}


def by_name(dep_map: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """{module name: path} for every module in a dep map."""
    return {module_name(path): path for path in dep_map}


def load_order(
    dep_map: dict[str, tuple[str, ...]], names: Iterable[str], builtin: set[str]
) -> list[str]:
    """Paths of `names` and their dependencies, each after everything it depends on.

    Names built into the kernel are skipped. Raises KeyError naming a module that is
    neither a module nor built in.
    """
    paths = by_name(dep_map)
    order: list[str] = []
    seen: set[str] = set()

    def visit(path: str) -> None:
        if path in seen:
            return
        seen.add(path)
        for dep in dep_map.get(path, ()):
            visit(dep)
        order.append(path)

    for name in names:
        key = name.replace("-", "_")
        if key in paths:
            visit(paths[key])
        elif key not in builtin:
            raise KeyError(name)
    return order


def select(
    dep_map: dict[str, tuple[str, ...]],
    names: Iterable[str],
    prefixes: Iterable[str],
) -> list[str]:
    """Paths of the named modules, all modules under `prefixes`, and their dependencies.

    Names that the kernel does not have (as a module) are ignored: they are built in or
    absent, and the guest's modprobe reports the latter.
    """
    paths = by_name(dep_map)
    wanted = [paths[n.replace("-", "_")] for n in names if n.replace("-", "_") in paths]
    prefix_tuple = tuple(prefixes)
    wanted += [path for path in dep_map if path.startswith(prefix_tuple)]
    closure: set[str] = set()
    stack = list(wanted)
    while stack:
        path = stack.pop()
        if path not in closure:
            closure.add(path)
            stack.extend(dep_map.get(path, ()))
    return sorted(closure)


def uncompressed_path(path: str) -> str:
    """The path a module gets once decompressed (`x.ko.xz` becomes `x.ko`)."""
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz"):
        if path.endswith(suffix):
            return path[: -len(suffix)] + ".ko"
    return path
