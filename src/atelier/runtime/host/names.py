"""Names of every host object Atelier creates, built from ids and parsed back.

This is the only place that builds host resource names. Every name carries the `atl` prefix
and parses back to the id it was made from, so reconcile can prove an object is Atelier's
before deleting it. Names respect kernel limits (15 characters for interface names).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Literal

PREFIX = "atl"
ID_LENGTH = 8
IFNAMSIZ = 15  # the kernel's interface-name limit, without the trailing NUL

_ID = r"[a-z2-7]{8}"
_ID_RE = re.compile(rf"^{_ID}$")
_IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,38}$")

VolumeKind = Literal["base", "pre", "sbx"]
_VOLUME_RE = re.compile(
    rf"^{PREFIX}-(?:(?P<sbx>sbx)-(?P<sbx_id>{_ID})|(?P<pre>pre)-(?P<pre_id>{_ID})"
    r"|(?P<base>base)-(?P<image>[a-z0-9][a-z0-9-]{0,38})\.(?P<digest>[0-9a-f]{8}))$"
)
_TAP_RE = re.compile(rf"^{PREFIX}-(?P<id>{_ID})$")
_VM_RE = re.compile(rf"^{PREFIX}-(?P<kind>sbx|dbg|pre|tst)-(?P<id>{_ID})$")


def new_id() -> str:
    """A fresh short id: 8 characters of lowercase base32, URL- and DNS-safe."""
    return base64.b32encode(secrets.token_bytes(5)).decode().lower()


def is_id(value: str) -> bool:
    """True when `value` has the shape of an Atelier id."""
    return bool(_ID_RE.match(value))


def check_image_name(name: str) -> str:
    """An image name: lowercase letters, digits and '-', at most 39 characters."""
    if not _IMAGE_RE.match(name):
        raise ValueError(f"image name {name!r} must be lowercase letters, digits and '-' (max 39)")
    return name


def tap_name(sandbox_id: str) -> str:
    """The TAP interface of a sandbox: `atl-<id>` (12 characters)."""
    _check_id(sandbox_id)
    name = f"{PREFIX}-{sandbox_id}"
    assert len(name) <= IFNAMSIZ
    return name


def parse_tap(name: str) -> str | None:
    """The sandbox id a TAP name was built from, or None when it is not Atelier's."""
    match = _TAP_RE.match(name)
    return match["id"] if match else None


@dataclass(frozen=True)
class VolumeName:
    """A parsed volume name."""

    kind: VolumeKind
    ident: str  # sandbox id, prebuild id, or image name for bases
    digest: str | None = None  # content digest, for bases only

    def __str__(self) -> str:
        if self.kind == "base":
            return f"{PREFIX}-base-{self.ident}.{self.digest}"
        return f"{PREFIX}-{self.kind}-{self.ident}"


def sandbox_volume(sandbox_id: str) -> str:
    """The writable volume of a sandbox: `atl-sbx-<id>`."""
    _check_id(sandbox_id)
    return str(VolumeName("sbx", sandbox_id))


def prebuild_volume(prebuild_id: str) -> str:
    """The read-only snapshot of a prebuild: `atl-pre-<id>`."""
    _check_id(prebuild_id)
    return str(VolumeName("pre", prebuild_id))


def base_volume(image: str, digest: str) -> str:
    """The imported base image: `atl-base-<image>.<first 8 hex of its digest>`."""
    check_image_name(image)
    short = digest[:8].lower()
    if not re.fullmatch(r"[0-9a-f]{8}", short):
        raise ValueError(f"digest {digest!r} must start with 8 hex digits")
    return str(VolumeName("base", image, short))


def parse_volume(name: str) -> VolumeName | None:
    """Parse a volume name back, or None when it is not Atelier's."""
    match = _VOLUME_RE.match(name)
    if not match:
        return None
    if match["sbx"]:
        return VolumeName("sbx", match["sbx_id"])
    if match["pre"]:
        return VolumeName("pre", match["pre_id"])
    return VolumeName("base", match["image"], match["digest"])


VmKind = Literal["sbx", "dbg", "pre", "tst"]


def vm_name(kind: VmKind, ident: str) -> str:
    """The name of a VM's run directory and process tag: `atl-<kind>-<id>`."""
    _check_id(ident)
    return f"{PREFIX}-{kind}-{ident}"


def parse_vm(name: str) -> tuple[VmKind, str] | None:
    """(kind, id) for a VM name, or None when it is not Atelier's."""
    match = _VM_RE.match(name)
    if not match:
        return None
    kind: VmKind = match["kind"]  # type: ignore[assignment]  # the regex admits only VmKind values
    return kind, match["id"]


NFT_TABLE = "atelier"  # the nftables table Atelier owns, in the inet and bridge families
_PORT_CHAIN_RE = re.compile(rf"^{PREFIX}-port-(?P<id>{_ID})$")
_DIAL_RE = re.compile(rf"^{PREFIX}-dial-(?P<id>{_ID})-(?P<port>[1-9][0-9]{{0,4}})\.sock$")


def port_chain(sandbox_id: str) -> str:
    """The firewall chain pinning a sandbox's TAP (nft, ebtables): `atl-port-<id>`."""
    _check_id(sandbox_id)
    return f"{PREFIX}-port-{sandbox_id}"


def parse_port_chain(name: str) -> str | None:
    """The sandbox id a port chain name was built from, or None when it is not Atelier's."""
    match = _PORT_CHAIN_RE.match(name)
    return match["id"] if match else None


def dial_socket(sandbox_id: str, port: int) -> str:
    """The Unix socket forwarding to a guest port from a netns: `atl-dial-<id>-<port>.sock`."""
    _check_id(sandbox_id)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    return f"{PREFIX}-dial-{sandbox_id}-{port}.sock"


def parse_dial_socket(name: str) -> tuple[str, int] | None:
    """(sandbox id, guest port) for a dial socket file name, or None when it is not Atelier's."""
    match = _DIAL_RE.match(name)
    if not match or int(match["port"]) > 65535:
        return None
    return match["id"], int(match["port"])


RouteKind = Literal["code", "opencode", "browser", "dev"]
ROUTE_PREFIX = f"{PREFIX}-rt-"
ROUTE_DASHBOARD = f"{ROUTE_PREFIX}dashboard"  # the static dashboard/API host route
ROUTE_FALLBACK = f"{ROUTE_PREFIX}fallback"  # the catch-all 404, always last
ID_PATTERN = _ID  # for hostname and route patterns built elsewhere
DEV_NAME_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?"
_DEV_NAME_RE = re.compile(rf"^{DEV_NAME_PATTERN}$")
_ROUTE_RE = re.compile(
    rf"^{ROUTE_PREFIX}(?:(?P<kind>code|opencode|browser)-(?P<id>{_ID})"
    rf"|dev-(?P<dev>{DEV_NAME_PATTERN})-(?P<dev_id>{_ID}))$"
)


@dataclass(frozen=True)
class RouteName:
    """A parsed proxy route id: which service of which sandbox it publishes."""

    kind: RouteKind
    sandbox_id: str
    dev_name: str | None = None  # for kind "dev" only

    def __str__(self) -> str:
        if self.kind == "dev":
            return f"{ROUTE_PREFIX}dev-{self.dev_name}-{self.sandbox_id}"
        return f"{ROUTE_PREFIX}{self.kind}-{self.sandbox_id}"


def check_dev_name(name: str) -> str:
    """A dev command name usable in hostnames and route ids: 1-32 of a-z, 0-9, '-'."""
    if not _DEV_NAME_RE.match(name):
        raise ValueError(
            f"dev command name {name!r} must be 1-32 lowercase letters, digits or '-',"
            " starting and ending with a letter or digit"
        )
    return name


def route_id(kind: RouteKind, sandbox_id: str, dev_name: str | None = None) -> str:
    """The Caddy `@id` of a sandbox route: `atl-rt-<kind>-<id>` or `atl-rt-dev-<name>-<id>`."""
    _check_id(sandbox_id)
    if kind == "dev":
        if dev_name is None:
            raise ValueError("a dev route needs the dev command's name")
        check_dev_name(dev_name)
    elif dev_name is not None:
        raise ValueError(f"only dev routes carry a name, not {kind!r} routes")
    return str(RouteName(kind, sandbox_id, dev_name))


def parse_route_id(name: str) -> RouteName | None:
    """The sandbox route a Caddy `@id` names, or None when it is not a sandbox route."""
    match = _ROUTE_RE.match(name)
    if not match:
        return None
    if match["dev"]:
        return RouteName("dev", match["dev_id"], match["dev"])
    kind: RouteKind = match["kind"]  # type: ignore[assignment]  # the regex admits only these
    return RouteName(kind, match["id"])


def _check_id(value: str) -> None:
    if not _ID_RE.match(value):
        raise ValueError(f"{value!r} is not an Atelier id (8 characters of a-z and 2-7)")


MemoryKind = Literal["sbx", "pre"]
_STATE_RE = re.compile(rf"^{PREFIX}-mem-(?P<kind>sbx|pre)-(?P<id>{_ID})\.state$")


def memory_state(kind: MemoryKind, ident: str) -> str:
    """A memory snapshot's state file: `atl-mem-sbx-<id>.state` (a paused sandbox's memory)
    or `atl-mem-pre-<id>.state` (a prebuild's booted guest)."""
    _check_id(ident)
    return f"{PREFIX}-mem-{kind}-{ident}.state"


def parse_memory_state(name: str) -> tuple[MemoryKind, str] | None:
    """(kind, id) for a memory state file name, or None when it is not Atelier's."""
    match = _STATE_RE.match(name)
    if not match:
        return None
    kind: MemoryKind = match["kind"]  # type: ignore[assignment]  # the regex admits only these
    return kind, match["id"]
