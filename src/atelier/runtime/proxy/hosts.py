"""Public hostnames of sandbox services, built from ids and parsed back.

`sandbox-<id>` (code-server), `opencode-<id>`, `browser-<id>` (noVNC) and `dev-<name>-<id>`
(a dev command's port), each under the base domain. The route id of each host comes from
`atelier.runtime.host.names`, so a hostname, its route and its sandbox map one to one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from atelier.runtime.host import names

_HOST_PREFIX: dict[names.RouteKind, str] = {
    "code": "sandbox",
    "opencode": "opencode",
    "browser": "browser",
}
_LABEL_RE = re.compile(
    rf"^(?:(?P<prefix>sandbox|opencode|browser)-(?P<id>{names.ID_PATTERN})"
    rf"|dev-(?P<dev>{names.DEV_NAME_PATTERN})-(?P<dev_id>{names.ID_PATTERN}))$"
)
_KIND_OF_PREFIX = {prefix: kind for kind, prefix in _HOST_PREFIX.items()}


@dataclass(frozen=True)
class ServiceHost:
    """One published service of one sandbox."""

    kind: names.RouteKind
    sandbox_id: str
    dev_name: str | None = None

    @property
    def route_id(self) -> str:
        """The Caddy `@id` of this host's route."""
        return names.route_id(self.kind, self.sandbox_id, self.dev_name)

    def label(self) -> str:
        """The first DNS label: `sandbox-<id>`, `dev-<name>-<id>`, ..."""
        if self.kind == "dev":
            return f"dev-{self.dev_name}-{self.sandbox_id}"
        return f"{_HOST_PREFIX[self.kind]}-{self.sandbox_id}"

    def hostname(self, domain: str) -> str:
        """The full hostname under `domain`."""
        return f"{self.label()}.{domain}"

    @classmethod
    def of_route(cls, route: names.RouteName) -> ServiceHost:
        """The host a parsed route id publishes."""
        return cls(route.kind, route.sandbox_id, route.dev_name)


def service_host(
    domain: str, kind: names.RouteKind, sandbox_id: str, dev_name: str | None = None
) -> str:
    """The hostname of a sandbox service; ValueError for a bad id or dev name."""
    names.route_id(kind, sandbox_id, dev_name)  # validates the id and the dev name
    return ServiceHost(kind, sandbox_id, dev_name).hostname(domain)


def normalise(host: str) -> str:
    """A Host header as a bare lowercase name: no port, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def parse_host(domain: str, host: str) -> ServiceHost | None:
    """The sandbox service a Host header names, or None when it names none."""
    name = normalise(host)
    suffix = "." + domain
    if not name.endswith(suffix):
        return None
    match = _LABEL_RE.match(name[: -len(suffix)])
    if not match:
        return None
    if match["dev"]:
        return ServiceHost("dev", match["dev_id"], match["dev"])
    return ServiceHost(_KIND_OF_PREFIX[match["prefix"]], match["id"])
