"""Blocking system configuration: hostname, hosts, DNS, network, machine-id, SSH host keys, fs grow.

Used by the init's boot setup and by the agent's identity/network operations, always inside a
forked worker (never on the agent's loop), so commands can simply run to completion. Commands
are argument lists (`ip`, `ssh-keygen`, `resize2fs`); nothing is built as a shell string.
Functions take a `root` so tests can point them at a temporary tree.
"""

from __future__ import annotations

import os

from atelier.guest import protocol as p
from atelier.guest.session import OpError
from atelier.guest.spawn import run_blocking

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_DIR = "var/lib/atelier"
SSH_KEY_TYPES = ("ed25519", "ecdsa")  # RSA generation takes seconds under TCG


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.atelier-tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    if os.path.islink(path):
        os.unlink(path)  # e.g. resolv.conf pointing at a resolver we do not run
    os.replace(tmp, path)


def valid_hostname(name: str) -> bool:
    labels = name.split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(label) <= 63
        and label[0].isalnum()
        and label[-1].isalnum()
        and all(c.isalnum() or c == "-" for c in label)
        and label.isascii()
        for label in labels
    )


def hosts_text(hostname: str) -> str:
    short = hostname.split(".")[0]
    names = hostname if short == hostname else f"{hostname} {short}"
    return (
        "127.0.0.1\tlocalhost\n"
        f"127.0.1.1\t{names}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n"
    )


def set_hostname(hostname: str, root: str = "/") -> None:
    if not valid_hostname(hostname):
        raise OpError(
            p.E_BAD_REQUEST, f"hostname {hostname!r} is not a valid DNS name", field="hostname"
        )
    if root == "/":
        import socket

        socket.sethostname(hostname)
    _write(os.path.join(root, "etc/hostname"), hostname + "\n")
    _write(os.path.join(root, "etc/hosts"), hosts_text(hostname))


def resolv_text(servers: list[str], search: list[str] | None = None) -> str:
    lines = [f"nameserver {server}" for server in servers]
    if search:
        lines.append("search " + " ".join(search))
    return "\n".join(lines) + "\n"


def new_machine_id(root: str = "/") -> str:
    machine_id = os.urandom(16).hex()
    _write(os.path.join(root, "etc/machine-id"), machine_id + "\n", 0o444)
    dbus = os.path.join(root, "var/lib/dbus/machine-id")
    if os.path.isfile(dbus) and not os.path.islink(dbus):
        _write(dbus, machine_id + "\n", 0o444)
    return machine_id


def regenerate_ssh_host_keys(root: str = "/") -> list[str]:
    """Replace the host keys; returns their public key lines."""
    ssh_dir = os.path.join(root, "etc/ssh")
    if not os.path.isdir(ssh_dir):
        return []
    for name in os.listdir(ssh_dir):
        if name.startswith("ssh_host_") and ("_key" in name):
            os.unlink(os.path.join(ssh_dir, name))
    public = []
    for kind in SSH_KEY_TYPES:
        key = os.path.join(ssh_dir, f"ssh_host_{kind}_key")
        argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", key]
        code, _, err = run_blocking(argv, timeout=60)
        if code != 0:
            raise OpError(
                p.E_INTERNAL, f"ssh-keygen -t {kind} failed: {err.decode(errors='replace').strip()}"
            )
        with open(key + ".pub") as fh:
            public.append(fh.read().strip())
    return public


def identity_changed(key: str, root: str = "/") -> bool:
    """True when `key` (the sandbox id) differs from the one this disk last booted as."""
    path = os.path.join(root, STATE_DIR, "identity")
    try:
        with open(path) as fh:
            if fh.read().strip() == key:
                return False
    except OSError:
        pass
    _write(path, key + "\n", 0o600)
    return True


def pick_interface(mac: str | None = None, sys_net: str = "/sys/class/net") -> str | None:
    """The NIC with `mac`, else the first non-loopback device-backed interface."""
    try:
        names = sorted(os.listdir(sys_net))
    except OSError:
        return None
    candidates = []
    for name in names:
        if name == "lo" or not os.path.isdir(os.path.join(sys_net, name)):
            continue
        try:
            with open(os.path.join(sys_net, name, "address")) as fh:
                address = fh.read().strip().lower()
        except OSError:
            continue
        if mac and address == mac.lower():
            return name
        has_device = os.access(os.path.join(sys_net, name, "device"), os.F_OK)
        candidates.append((not has_device, name))
    if mac or not candidates:
        return None
    return sorted(candidates)[0][1]


def network_commands(iface: str, net: dict[str, Any]) -> list[list[str]]:
    """The `ip` argv lists that give `iface` the addresses and routes in `net`."""
    import ipaddress

    cmds = [
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "flush", "dev", iface, "scope", "global"],
    ]
    for key, family in (("ip", "-4"), ("ip6", "-6")):
        value = net.get(key)
        if value:
            try:
                ipaddress.ip_interface(value)
            except ValueError:
                raise OpError(
                    p.E_BAD_REQUEST, f"{key} {value!r} is not ADDRESS/PREFIX", field=key
                ) from None
            cmds.append(["ip", family, "addr", "add", value, "dev", iface])
    cmds.append(["ip", "link", "set", iface, "up"])
    for key, family in (("gw", "-4"), ("gw6", "-6")):
        value = net.get(key)
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise OpError(
                    p.E_BAD_REQUEST, f"{key} {value!r} is not an IP address", field=key
                ) from None
            cmds.append(["ip", family, "route", "replace", "default", "via", value, "dev", iface])
    return cmds


def configure_network(net: dict[str, Any], root: str = "/") -> dict[str, Any]:
    """Apply addresses, routes and DNS; returns what was configured."""
    iface = net.get("interface") or pick_interface(net.get("mac"))
    if not iface:
        raise OpError(
            p.E_NOT_FOUND, "no network interface found (or none with the given mac)", field="mac"
        )
    for argv in network_commands(iface, net):
        code, _, err = run_blocking(argv, timeout=20)
        if code != 0:
            raise OpError(
                p.E_INTERNAL, f"{' '.join(argv)} failed: {err.decode(errors='replace').strip()}"
            )
    dns = net.get("dns") or []
    if dns:
        _write(os.path.join(root, "etc/resolv.conf"), resolv_text(list(dns), net.get("search")))
    return {"interface": iface, "ip": net.get("ip"), "ip6": net.get("ip6"), "dns": list(dns)}


def grow_filesystem(device: str) -> dict[str, Any]:
    """Online-grow the ext4 filesystem on `device` to the size of the disk."""
    code, out, err = run_blocking(["resize2fs", device], timeout=300)
    if code != 0:
        raise OpError(
            p.E_INTERNAL, f"resize2fs {device} failed: {err.decode(errors='replace').strip()}"
        )
    return {"device": device, "output": (out + err).decode(errors="replace").strip()}


def refresh_identity(request: dict[str, Any], root: str = "/") -> dict[str, Any]:
    """New hostname, machine-id, SSH host keys and network, as requested (after a restore)."""
    result: dict[str, Any] = {}
    if request.get("hostname"):
        set_hostname(request["hostname"], root)
        result["hostname"] = request["hostname"]
    if request.get("machine_id", True):
        result["machine_id"] = new_machine_id(root)
    if request.get("ssh_host_keys", True):
        result["ssh_host_keys"] = regenerate_ssh_host_keys(root)
    if request.get("network"):
        result["network"] = configure_network(request["network"], root)
    if request.get("id"):
        identity_changed(str(request["id"]), root)
    return result
