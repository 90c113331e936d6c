"""A fake Firecracker: the API contract and state rules, without a VM.

`FakeFirecracker.handle()` checks each request against firecracker-api.yaml (see
`firecracker_spec`) and then Firecracker's rules: pre-boot-only calls are refused after
`InstanceStart`, post-boot-only calls before it, snapshots are created only while paused
and loaded only into a fresh process. Paths in bodies are resolved against the fake's root
(its working directory, or the jail root under the fake jailer) and must exist, as for the
real VMM. Every call is recorded; `tests/fakes/firecracker_server.py` serves it over HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.firecracker_spec import RequestRejected, SwaggerApi
from tests.fakes.vsock import FakeHybridVsock

NOT_STARTED, RUNNING, PAUSED, EXITED = "Not started", "Running", "Paused", "Exited"

PRE_BOOT_ONLY = {
    ("PUT", "/boot-source"),
    ("PUT", "/cpu-config"),
    ("PUT", "/drives/{drive_id}"),
    ("PUT", "/pmem/{id}"),
    ("PUT", "/logger"),
    ("PUT", "/metrics"),
    ("PUT", "/machine-config"),
    ("PATCH", "/machine-config"),
    ("PUT", "/mmds/config"),
    ("PUT", "/entropy"),
    ("PUT", "/serial"),
    ("PUT", "/hotplug/memory"),
    ("PUT", "/network-interfaces/{iface_id}"),
    ("PUT", "/snapshot/load"),
    ("PUT", "/vsock"),
    ("PUT", "/balloon"),
}
POST_BOOT_ONLY = {
    ("PATCH", "/drives/{drive_id}"),
    ("PATCH", "/pmem/{id}"),
    ("PATCH", "/network-interfaces/{iface_id}"),
    ("PATCH", "/vm"),
    ("PUT", "/snapshot/create"),
    ("PATCH", "/balloon"),
    ("GET", "/balloon/statistics"),
    ("PATCH", "/balloon/statistics"),
    ("PATCH", "/balloon/hinting/start"),
    ("GET", "/balloon/hinting/status"),
    ("PATCH", "/balloon/hinting/stop"),
    ("GET", "/hotplug/memory"),
    ("PATCH", "/hotplug/memory"),
}
# Configuring any of these makes a later snapshot load illegal.
BOOT_RESOURCES = PRE_BOOT_ONLY - {
    ("PUT", "/logger"),
    ("PUT", "/metrics"),
    ("PUT", "/snapshot/load"),
}
SNAPSHOT_MAGIC = "fake-firecracker-snapshot"

Response = tuple[int, Any]


@dataclass(frozen=True)
class Call:
    """One request the fake received and what it answered."""

    method: str
    path: str
    body: Any
    status: int
    fault: str | None = None


@dataclass
class _Config:
    machine: dict[str, Any] = field(default_factory=lambda: {"vcpu_count": 1, "mem_size_mib": 128})
    boot_source: dict[str, Any] | None = None
    drives: dict[str, dict[str, Any]] = field(default_factory=dict)
    nics: dict[str, dict[str, Any]] = field(default_factory=dict)
    vsock: dict[str, Any] | None = None
    balloon: dict[str, Any] | None = None
    entropy: bool = False
    logger: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


class FakeFirecracker:
    """Firecracker's API behaviour for one process. Thread-safe."""

    def __init__(
        self,
        root: Path,
        *,
        api: SwaggerApi | None = None,
        vm_id: str = "anonymous-instance",
        version: str | None = None,
        jailed: bool = False,
        vsock_backends: Mapping[int, Path] | None = None,
        on_call: Callable[[Call], None] | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.root = root
        self.api = api or SwaggerApi()
        self.vm_id = vm_id
        self.version = version or self.api.version
        self.jailed = jailed
        self.state = NOT_STARTED
        self.calls: list[Call] = []
        self.config = _Config()
        self.vsock_server: FakeHybridVsock | None = None
        self._vsock_backends = dict(vsock_backends or {})
        self._boot_path = False
        self._on_call = on_call
        self._on_exit = on_exit
        self._lock = threading.Lock()

    # -- entry point ----------------------------------------------------------------------

    def handle(self, method: str, path: str, raw_body: bytes) -> Response:
        """Answer one request: (status, JSON body or None). Faults are 400s."""
        with self._lock:
            body: Any = None
            fault: str | None = None
            try:
                if raw_body.strip():
                    try:
                        body = json.loads(raw_body)
                    except ValueError as exc:
                        raise RequestRejected(f"Invalid JSON body: {exc}") from exc
                operation, ident = self.api.validate(method, path, body)
                status, answer = self._dispatch(method, operation.template, ident, body)
            except RequestRejected as exc:
                fault = str(exc)
                status, answer = 400, {"fault_message": fault}
            except OSError as exc:
                fault = f"Internal error: {exc}"
                status, answer = 400, {"fault_message": fault}
            call = Call(method, path, body, status, fault)
            self.calls.append(call)
        if self._on_call is not None:
            self._on_call(call)
        if self.state == EXITED and self._on_exit is not None:
            self._on_exit()
        return status, answer

    def close(self) -> None:
        """Stop the vsock listener, if any."""
        if self.vsock_server is not None:
            self.vsock_server.stop()
            self.vsock_server = None

    def resolve(self, path: str) -> Path:
        """A path from a request body, as the jailed or unjailed VMM would open it."""
        if self.jailed:
            return self.root / path.lstrip("/")
        return self.root / path

    # -- rules ----------------------------------------------------------------------------

    def _dispatch(self, method: str, template: str, ident: str | None, body: Any) -> Response:
        key = (method, template)
        if key in PRE_BOOT_ONLY and self.state != NOT_STARTED:
            raise RequestRejected(
                "The requested operation is not supported after starting the microVM."
            )
        if key in POST_BOOT_ONLY and self.state == NOT_STARTED:
            raise RequestRejected(
                "The requested operation is not supported before starting the microVM."
            )
        if key in BOOT_RESOURCES:
            self._boot_path = True
        if ident is not None and isinstance(body, dict):
            body_id = body.get("drive_id", body.get("iface_id", body.get("id")))
            if body_id is not None and body_id != ident:
                raise RequestRejected("The id from the path does not match the id from the body!")
        handler = getattr(self, _handler_name(method, template), None)
        if handler is None:
            return 204, None
        result: Response = handler(body) if ident is None else handler(ident, body)
        return result

    def _get_root(self, _: Any) -> Response:
        return 200, {
            "app_name": "Firecracker",
            "id": self.vm_id,
            "state": self.state if self.state != EXITED else RUNNING,
            "vmm_version": self.version,
        }

    def _get_version(self, _: Any) -> Response:
        return 200, {"firecracker_version": self.version}

    def _get_machine_config(self, _: Any) -> Response:
        return 200, self.config.machine

    def _get_vm_config(self, _: Any) -> Response:
        cfg = self.config
        data: dict[str, Any] = {
            "machine-config": cfg.machine,
            "drives": list(cfg.drives.values()),
            "network-interfaces": list(cfg.nics.values()),
        }
        for key, value in (("boot-source", cfg.boot_source), ("vsock", cfg.vsock)):
            if value is not None:
                data[key] = value
        if cfg.balloon is not None:
            data["balloon"] = cfg.balloon
        return 200, data

    def _put_logger(self, body: dict[str, Any]) -> Response:
        if "log_path" in body:
            self._must_exist(body["log_path"], "Logger initialization failure: the log file")
        self.config.logger = body
        return 204, None

    def _put_metrics(self, body: dict[str, Any]) -> Response:
        if self.config.metrics is not None:
            raise RequestRejected("Metrics error: Reinitialization of metrics not allowed.")
        self._must_exist(body["metrics_path"], "Metrics initialization failure: the metrics file")
        self.config.metrics = body
        return 204, None

    def _put_machine_config(self, body: dict[str, Any]) -> Response:
        if not 1 <= body["vcpu_count"] <= 32:
            raise RequestRejected("Machine config error: The vCPU number is invalid!")
        self.config.machine = body
        return 204, None

    def _put_boot_source(self, body: dict[str, Any]) -> Response:
        self._must_exist(body["kernel_image_path"], "Boot source error: The kernel file")
        if "initrd_path" in body:
            self._must_exist(body["initrd_path"], "Boot source error: The initrd file")
        self.config.boot_source = body
        return 204, None

    def _put_drives(self, ident: str, body: dict[str, Any]) -> Response:
        self._must_exist(body.get("path_on_host", ""), "Drive config error: the backing file")
        if body["is_root_device"] and any(
            d["is_root_device"] for k, d in self.config.drives.items() if k != ident
        ):
            raise RequestRejected("Drive config error: A root block device already exists!")
        self.config.drives[ident] = body
        return 204, None

    def _put_network_interfaces(self, ident: str, body: dict[str, Any]) -> Response:
        taps = {n["host_dev_name"] for k, n in self.config.nics.items() if k != ident}
        if body["host_dev_name"] in taps:
            raise RequestRejected("Network interface error: The host device name is in use.")
        self.config.nics[ident] = body
        return 204, None

    def _put_vsock(self, body: dict[str, Any]) -> Response:
        self.config.vsock = body
        return 204, None

    def _put_entropy(self, _: Any) -> Response:
        self.config.entropy = True
        return 204, None

    def _put_balloon(self, body: dict[str, Any]) -> Response:
        if body["amount_mib"] > self.config.machine["mem_size_mib"]:
            raise RequestRejected("Balloon config error: amount exceeds guest memory.")
        self.config.balloon = body
        return 204, None

    def _patch_balloon(self, body: dict[str, Any]) -> Response:
        if self.config.balloon is None:
            raise RequestRejected("Balloon update error: balloon device not configured.")
        self.config.balloon = {**self.config.balloon, "amount_mib": body["amount_mib"]}
        return 204, None

    def _get_balloon_statistics(self, _: Any) -> Response:
        balloon = self.config.balloon
        if balloon is None or not balloon.get("stats_polling_interval_s"):
            raise RequestRejected("Balloon error: statistics are not enabled.")
        mib = balloon["amount_mib"]
        pages = mib * 256
        stats = {"target_pages": pages, "actual_pages": pages, "target_mib": mib, "actual_mib": mib}
        return 200, {**stats, "total_memory": self.config.machine["mem_size_mib"] << 20}

    def _put_actions(self, body: dict[str, Any]) -> Response:
        action = body["action_type"]
        if action == "InstanceStart":
            if self.state != NOT_STARTED:
                raise RequestRejected(
                    "The requested operation is not supported after starting the microVM."
                )
            if self.config.boot_source is None:
                raise RequestRejected(
                    "Start microvm error: Cannot start microvm without kernel configuration."
                )
            self._start_vsock()
            self.state = RUNNING
            return 204, None
        if self.state == NOT_STARTED:
            raise RequestRejected(
                "The requested operation is not supported before starting the microVM."
            )
        if action == "SendCtrlAltDel" and self.state == RUNNING:
            # The guest init powers off; with reboot=k Firecracker then exits.
            self.state = EXITED
        elif action == "FlushMetrics":
            self._flush_metrics()
        return 204, None

    def _patch_vm(self, body: dict[str, Any]) -> Response:
        self.state = PAUSED if body["state"] == "Paused" else RUNNING
        return 204, None

    def _put_snapshot_create(self, body: dict[str, Any]) -> Response:
        if self.state != PAUSED:
            raise RequestRejected(
                "Create snapshot error: Cannot save the microVM state: the microVM is not paused."
            )
        state = {
            "magic": SNAPSHOT_MAGIC,
            "config": dataclasses.asdict(self.config),
            "type": body.get("snapshot_type", "Full"),
        }
        self.resolve(body["snapshot_path"]).write_text(json.dumps(state))
        with self.resolve(body["mem_file_path"]).open("wb") as mem:
            mem.truncate(self.config.machine["mem_size_mib"] << 20)
        return 204, None

    def _put_snapshot_load(self, body: dict[str, Any]) -> Response:
        if self._boot_path:
            raise RequestRejected(
                "Load snapshot error: Loading a microVM snapshot not allowed after configuring"
                " boot-specific resources."
            )
        if ("mem_file_path" in body) == ("mem_backend" in body):
            raise RequestRejected("Either mem_file_path or mem_backend must be specified.")
        mem = body.get("mem_file_path") or body["mem_backend"]["backend_path"]
        self._must_exist(mem, "Load snapshot error: the memory file")
        self._must_exist(body["snapshot_path"], "Load snapshot error: the snapshot file")
        saved = json.loads(self.resolve(body["snapshot_path"]).read_text())
        if saved.get("magic") != SNAPSHOT_MAGIC:
            raise RequestRejected("Load snapshot error: not a snapshot state file.")
        self.config = _Config(**saved["config"])
        for drive in self.config.drives.values():
            self._must_exist(drive["path_on_host"], "Load snapshot error: the backing file")
        for override in body.get("network_overrides", []):
            nic = self.config.nics.get(override["iface_id"])
            if nic is None:
                raise RequestRejected(f"Invalid network override: no {override['iface_id']}.")
            nic["host_dev_name"] = override["host_dev_name"]
        if "vsock_override" in body and self.config.vsock is not None:
            self.config.vsock["uds_path"] = body["vsock_override"]["uds_path"]
        self._start_vsock()
        self.state = RUNNING if body.get("resume_vm") else PAUSED
        return 204, None

    # -- helpers --------------------------------------------------------------------------

    def _must_exist(self, path: str, what: str) -> None:
        if not path or not self.resolve(path).exists():
            raise RequestRejected(f"{what} {path!r} cannot be opened: No such file or directory")

    def _start_vsock(self) -> None:
        if self.config.vsock is None:
            return
        uds = self.resolve(self.config.vsock["uds_path"])
        if uds.exists():
            raise RequestRejected(f"Vsock error: cannot bind {uds}: Address in use")
        self.vsock_server = FakeHybridVsock(uds, self._vsock_backends)
        self.vsock_server.start()

    def _flush_metrics(self) -> None:
        if self.config.metrics is None:
            return
        line: dict[str, Any] = {"utc_timestamp_ms": 0, "api": {"calls": len(self.calls)}}
        with self.resolve(self.config.metrics["metrics_path"]).open("a") as out:
            out.write(json.dumps(line) + "\n")


def _handler_name(method: str, template: str) -> str:
    resource = template.strip("/").split("/{")[0].replace("/", "_").replace("-", "_") or "root"
    return f"_{method.lower()}_{resource}"
