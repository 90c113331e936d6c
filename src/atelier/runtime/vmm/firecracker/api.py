"""Firecracker's REST API: pure request builders and an async client over its Unix socket.

Builders return `ApiRequest` values (method, path, JSON body) and do no I/O, so the tests can
check every body against Firecracker's swagger description. `FirecrackerApi` sends them with
httpx over the API socket, with an explicit timeout, and turns Firecracker's
`{"fault_message": ...}` answers into `FirecrackerFault`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from atelier.runtime.vmm.base import CacheMode
from atelier.runtime.vmm.errors import VmmError
from atelier.runtime.vmm.firecracker.errors import FirecrackerFault

Method = Literal["GET", "PUT", "PATCH"]
ActionType = Literal["InstanceStart", "SendCtrlAltDel", "FlushMetrics"]

DEFAULT_TIMEOUT_S = 5.0
# Creating or loading a snapshot writes or maps the whole guest memory.
SNAPSHOT_TIMEOUT_S = 300.0

# Firecracker has no O_DIRECT mode: "none" maps to Writeback, which honours guest flushes.
_CACHE_TYPES: dict[CacheMode, str] = {
    "writeback": "Writeback",
    "none": "Writeback",
    "unsafe": "Unsafe",
}

_HINTS = {
    "/snapshot/create": "pause the VM first: Firecracker snapshots only paused VMs",
    "/snapshot/load": "a snapshot loads only into a fresh Firecracker process",
    "/vm": "pause and resume work only on a started VM",
}


@dataclass(frozen=True)
class ApiRequest:
    """One API call: method, path and JSON body (None for GET and bodiless calls)."""

    method: Method
    path: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class ApiFeatures:
    """Which optional API fields a Firecracker version accepts (it rejects unknown fields).

    Thresholds come from Firecracker's CHANGELOG: entropy device 1.4, snapshot-load
    `network_overrides` 1.12, `track_dirty_pages` on load 1.13 (`enable_diff_snapshots`
    before), `vsock_override` 1.16.
    """

    version: tuple[int, int, int]

    @classmethod
    def from_version(cls, text: str) -> ApiFeatures:
        """Parse `1.14.1`, `v1.17.0-dev` or `Firecracker v1.14.1`."""
        match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
        if match is None:
            raise VmmError(
                f"cannot parse Firecracker version {text!r}: expected MAJOR.MINOR.PATCH",
                hint="check `firecracker --version`",
            )
        major, minor, patch = (int(part) for part in match.groups())
        return cls((major, minor, patch))

    @property
    def entropy(self) -> bool:
        """PUT /entropy exists."""
        return self.version >= (1, 4, 0)

    @property
    def network_overrides(self) -> bool:
        """Snapshot load can re-point network interfaces at new TAP devices."""
        return self.version >= (1, 12, 0)

    @property
    def load_track_dirty_pages(self) -> bool:
        """Snapshot load names dirty-page tracking `track_dirty_pages`."""
        return self.version >= (1, 13, 0)

    @property
    def vsock_override(self) -> bool:
        """Snapshot load can re-point the vsock device at a new Unix socket."""
        return self.version >= (1, 16, 0)

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.version)


# -- builders ---------------------------------------------------------------------------------


def describe_instance() -> ApiRequest:
    """GET /: id, state (`Not started`, `Running`, `Paused`) and VMM version."""
    return ApiRequest("GET", "/")


def get_version() -> ApiRequest:
    """GET /version."""
    return ApiRequest("GET", "/version")


def get_vm_config() -> ApiRequest:
    """GET /vm/config: the full configuration Firecracker holds."""
    return ApiRequest("GET", "/vm/config")


def put_logger(log_path: str, level: str = "Warning") -> ApiRequest:
    """PUT /logger: Firecracker's own log (the file must exist already)."""
    body = {"log_path": log_path, "level": level, "show_level": True, "show_log_origin": False}
    return ApiRequest("PUT", "/logger", body)


def put_metrics(metrics_path: str) -> ApiRequest:
    """PUT /metrics: where FlushMetrics (and the periodic flush) writes JSON lines."""
    return ApiRequest("PUT", "/metrics", {"metrics_path": metrics_path})


def put_machine_config(
    vcpus: int, memory_mb: int, *, track_dirty_pages: bool = False
) -> ApiRequest:
    """PUT /machine-config. Pre-boot only."""
    body = {
        "vcpu_count": vcpus,
        "mem_size_mib": memory_mb,
        "smt": False,
        "track_dirty_pages": track_dirty_pages,
    }
    return ApiRequest("PUT", "/machine-config", body)


def put_boot_source(kernel: str, initrd: str | None, boot_args: str) -> ApiRequest:
    """PUT /boot-source. Pre-boot only."""
    body: dict[str, Any] = {"kernel_image_path": kernel, "boot_args": boot_args}
    if initrd is not None:
        body["initrd_path"] = initrd
    return ApiRequest("PUT", "/boot-source", body)


def put_drive(
    drive_id: str, path: str, *, root: bool, read_only: bool, cache: CacheMode = "writeback"
) -> ApiRequest:
    """PUT /drives/{drive_id}: a virtio-block device backed by `path`. Pre-boot only."""
    body = {
        "drive_id": drive_id,
        "path_on_host": path,
        "is_root_device": root,
        "is_read_only": read_only,
        "cache_type": _CACHE_TYPES[cache],
    }
    return ApiRequest("PUT", f"/drives/{drive_id}", body)


def put_network_interface(iface_id: str, tap: str, mac: str) -> ApiRequest:
    """PUT /network-interfaces/{iface_id}: a virtio-net device on an existing TAP."""
    body = {"iface_id": iface_id, "host_dev_name": tap, "guest_mac": mac}
    return ApiRequest("PUT", f"/network-interfaces/{iface_id}", body)


def put_vsock(uds_path: str, guest_cid: int) -> ApiRequest:
    """PUT /vsock: the hybrid vsock device; host connections go through `uds_path`."""
    return ApiRequest("PUT", "/vsock", {"guest_cid": guest_cid, "uds_path": uds_path})


def put_entropy() -> ApiRequest:
    """PUT /entropy: a virtio-rng device without rate limit. Pre-boot only."""
    return ApiRequest("PUT", "/entropy", {})


def put_balloon(amount_mib: int, *, deflate_on_oom: bool = True, stats_s: int = 0) -> ApiRequest:
    """PUT /balloon: attach a balloon device. Pre-boot only."""
    body = {
        "amount_mib": amount_mib,
        "deflate_on_oom": deflate_on_oom,
        "stats_polling_interval_s": stats_s,
    }
    return ApiRequest("PUT", "/balloon", body)


def patch_balloon(amount_mib: int) -> ApiRequest:
    """PATCH /balloon: inflate or deflate a running VM's balloon to `amount_mib`."""
    return ApiRequest("PATCH", "/balloon", {"amount_mib": amount_mib})


def get_balloon_statistics() -> ApiRequest:
    """GET /balloon/statistics (only when statistics were enabled at boot)."""
    return ApiRequest("GET", "/balloon/statistics")


def action(action_type: ActionType) -> ApiRequest:
    """PUT /actions."""
    return ApiRequest("PUT", "/actions", {"action_type": action_type})


def instance_start() -> ApiRequest:
    """PUT /actions InstanceStart: boot the configured VM."""
    return action("InstanceStart")


def send_ctrl_alt_del() -> ApiRequest:
    """PUT /actions SendCtrlAltDel: ask the guest to shut down (x86 only)."""
    return action("SendCtrlAltDel")


def flush_metrics() -> ApiRequest:
    """PUT /actions FlushMetrics: write one metrics line now."""
    return action("FlushMetrics")


def patch_vm(paused: bool) -> ApiRequest:
    """PATCH /vm: pause or resume the vCPUs of a started VM."""
    return ApiRequest("PATCH", "/vm", {"state": "Paused" if paused else "Resumed"})


def create_snapshot(snapshot_path: str, mem_file_path: str, *, diff: bool = False) -> ApiRequest:
    """PUT /snapshot/create. The VM must be paused."""
    body = {
        "snapshot_type": "Diff" if diff else "Full",
        "snapshot_path": snapshot_path,
        "mem_file_path": mem_file_path,
    }
    return ApiRequest("PUT", "/snapshot/create", body)


def load_snapshot(
    snapshot_path: str,
    mem_file_path: str,
    features: ApiFeatures,
    *,
    resume: bool = True,
    taps: dict[str, str] | None = None,
    vsock_uds: str | None = None,
    track_dirty_pages: bool = False,
) -> ApiRequest:
    """PUT /snapshot/load into a fresh process; `taps` maps iface_id to a new TAP device.

    Fields the running Firecracker version does not know are left out.
    """
    body: dict[str, Any] = {
        "snapshot_path": snapshot_path,
        "mem_backend": {"backend_type": "File", "backend_path": mem_file_path},
        "resume_vm": resume,
    }
    if track_dirty_pages:
        key = "track_dirty_pages" if features.load_track_dirty_pages else "enable_diff_snapshots"
        body[key] = True
    if taps and features.network_overrides:
        body["network_overrides"] = [
            {"iface_id": iface, "host_dev_name": tap} for iface, tap in sorted(taps.items())
        ]
    if vsock_uds is not None and features.vsock_override:
        body["vsock_override"] = {"uds_path": vsock_uds}
    return ApiRequest("PUT", "/snapshot/load", body)


# -- client -----------------------------------------------------------------------------------


class FirecrackerApi:
    """An async client for one Firecracker API socket.

    Use as an async context manager. Raises `FirecrackerFault` when Firecracker refuses a
    request and `VmmError` when the socket cannot be reached or does not answer in time.
    """

    def __init__(self, socket: Path, *, vm: str | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        self.socket = socket
        self._vm = vm
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket)),
            base_url="http://localhost",
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
        )

    async def __aenter__(self) -> FirecrackerApi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def call(self, request: ApiRequest, *, timeout: float | None = None) -> Any:
        """Send one request; returns the decoded JSON answer, or None for 204."""
        seconds = timeout or self._timeout
        try:
            response = await self._client.request(
                request.method,
                request.path,
                json=request.body,
                timeout=httpx.Timeout(seconds, connect=min(seconds, 2.0)),
            )
        except httpx.TimeoutException as exc:
            raise VmmError(
                f"Firecracker API {self.socket} did not answer {request.method} {request.path}"
                f" within {seconds:g} s",
                hint="the VMM may be hung; see its console log and firecracker.log",
            ) from exc
        except httpx.TransportError as exc:
            raise VmmError(
                f"cannot reach the Firecracker API socket {self.socket}: {exc}",
                hint="is the VM still running? see its console log",
            ) from exc
        if response.status_code >= 300:
            raise FirecrackerFault(
                request.method,
                request.path,
                response.status_code,
                _fault_message(response),
                vm=self._vm,
                hint=_HINTS.get(request.path),
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise VmmError(
                f"Firecracker answered {request.method} {request.path} with invalid JSON"
            ) from exc


def _fault_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(data, dict) and isinstance(data.get("fault_message"), str):
        return str(data["fault_message"])
    return response.text.strip()
