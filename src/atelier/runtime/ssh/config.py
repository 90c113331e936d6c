"""Configuration section for the SSH gateway (`ssh` in the config file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

HOST_KEY_NAME = "gateway_host_ed25519_key"


class SshConfig(BaseModel):
    """How `ssh <sandbox>@host -p 2222` reaches sandboxes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="run the SSH gateway inside the manager")
    listen_host: str = Field(
        "", description="address to listen on; empty means every address (IPv4 and IPv6)"
    )
    port: int = Field(2222, ge=0, le=65535, description="0 picks a free port (tests)")
    public_host: str | None = Field(
        None, description="host name users connect to (default: the manager URL's host)"
    )
    host_key_path: Path | None = Field(
        None, description=f"default: <data_dir>/ssh/{HOST_KEY_NAME}, created on first start"
    )
    guest_user: str = Field("dev", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    guest_port: int = Field(22, ge=1, le=65535, description="the guest sshd's port")
    keepalive_interval_s: float = Field(
        30.0, ge=0, description="probe idle clients and guests this often; 0 disables"
    )
    keepalive_count_max: int = Field(3, ge=1, description="unanswered probes before dropping")
    login_grace_time_s: float = Field(60.0, gt=0, description="time allowed to authenticate")
    upstream_timeout_s: float = Field(
        20.0, gt=0, description="time allowed to connect and log in to a guest's sshd"
    )
    max_sessions: int = Field(
        10, ge=1, description="session channels (shells, commands, sftp) per connection"
    )
    max_connections: int = Field(500, ge=1, description="client connections at once")
    agent_forwarding: bool = Field(
        True, description="allow clients that ask for it (`ssh -A`) to forward their agent"
    )
    port_forwarding: bool = Field(
        True, description="allow local forwarding (`ssh -L`, `-D`) to ports inside the guest"
    )

    def host_key_file(self, data_dir: Path) -> Path:
        """The gateway's host key: the configured path or the default in the data dir."""
        return self.host_key_path or data_dir / "ssh" / HOST_KEY_NAME
