"""Boot parameters from the kernel command line, and the scrubbed copy shown to guest users.

Parameters (all optional except the token): `atelier.token=`, `atelier.id=`,
`atelier.hostname=`, `atelier.ip=ADDR/PREFIX`, `atelier.gw=`, `atelier.dns=a,b`,
`atelier.ip6=`, `atelier.gw6=`, `atelier.mac=`, `atelier.agent_tcp=PORT`,
`atelier.services=a,b` (or `none`), `atelier.resize=1`, `atelier.root=` (stage 1),
`atelier.cgroups=0`, `atelier.debug=1`. Pure functions; `init.py` reads /proc/cmdline.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PREFIX = "atelier."
SECRET_KEYS = ("atelier.token",)
HIDDEN = "<hidden>"


def split(text: str) -> list[str]:
    """Split like the kernel: whitespace separates, double quotes group."""
    words: list[str] = []
    current: list[str] = []
    quoted = False
    started = False
    for char in text:
        if char == '"':
            quoted = not quoted
            started = True
        elif char.isspace() and not quoted:
            if started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return words


def _list(value: str | None) -> list[str]:
    return [item for item in (value or "").split(",") if item]


class BootParams:
    """What the host told this boot."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        get = values.get
        self.token = get("token", "")
        self.id = get("id") or None
        self.hostname = get("hostname") or None
        self.ip = get("ip") or None
        self.gw = get("gw") or None
        self.dns = _list(get("dns"))
        self.ip6 = get("ip6") or None
        self.gw6 = get("gw6") or None
        self.mac = get("mac") or None
        self.root = get("root") or "/dev/vda"
        self.resize = get("resize", "0") in ("1", "yes", "true")
        self.cgroups = get("cgroups", "1") not in ("0", "no", "false")
        self.debug = get("debug", "0") in ("1", "yes", "true")
        port = get("agent_tcp", "")
        self.agent_tcp = int(port) if port.isdigit() and 0 < int(port) < 65536 else None
        services = get("services")
        self.services: list[str] | None = (
            None if services is None else [s for s in _list(services) if s != "none"]
        )

    def network(self) -> dict[str, Any]:
        """The `network.configure` arguments these parameters describe."""
        return {
            "ip": self.ip,
            "gw": self.gw,
            "dns": self.dns,
            "ip6": self.ip6,
            "gw6": self.gw6,
            "mac": self.mac,
        }


def parse(text: str) -> BootParams:
    values = {}
    for word in split(text):
        key, sep, value = word.partition("=")
        if key.startswith(PREFIX):
            values[key[len(PREFIX) :]] = value if sep else "1"
    return BootParams(values)


def scrub(text: str) -> str:
    """The command line with secret values replaced, for everyone to read."""
    words = []
    for word in split(text):
        key, sep, _ = word.partition("=")
        words.append(f"{key}={HIDDEN}" if sep and key in SECRET_KEYS else word)
    return " ".join(f'"{w}"' if any(c.isspace() for c in w) else w for w in words) + "\n"
