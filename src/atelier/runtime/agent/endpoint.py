"""Where a VM's agent can be reached from the host.

A VMM driver describes its agent channel with an `AgentEndpoint`; the agent client opens a
transport for it. Kept free of I/O so drivers and the database can store it as plain data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

EndpointKind = Literal["unix", "tcp", "vsock-uds"]


@dataclass(frozen=True)
class AgentEndpoint:
    """One way to reach a guest agent.

    - `unix`: a Unix socket QEMU serves for the guest's virtio-serial port (`path`).
    - `tcp`: a loopback TCP port forwarded to the guest (`host`, `port`); fallback only.
    - `vsock-uds`: Firecracker's hybrid vsock Unix socket (`path`) plus the guest `port`
      named in the `CONNECT <port>` handshake.
    """

    kind: EndpointKind
    path: Path | None = None
    host: str | None = None
    port: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentEndpoint:
        """Inverse of `to_dict`."""
        path = data.get("path")
        return cls(
            kind=data["kind"],
            path=Path(path) if path else None,
            host=data.get("host"),
            port=data.get("port"),
        )
