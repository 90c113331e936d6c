"""Booting dev-base (or dev-cloud) for tests: the image, loopback forwards, the spawn contract.

`ensure_image()` builds the image with the real builder, or returns at once when the built
one matches its recipe. `booted_dev()` boots it with 2 GiB and QEMU user networking whose
only openings are loopback forwards to code-server, noVNC and OpenCode, then does what the
spawn pipeline must do for these images: write the OpenCode password file. Probes use short
timeouts and retry (OpenCode may leave the first request after start unanswered).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from atelier.config import AtelierConfig
from atelier.runtime.agent.models import ServiceStatus
from atelier.runtime.host import proc
from atelier.runtime.images import builder, catalog
from atelier.runtime.images.catalog import BuiltImage
from atelier.runtime.images.recipes import _dev_services as ports
from atelier.runtime.vmm.base import Nic, PortForward
from tests.hostkit import free_port
from tests.vmkit import BootedVm, booted_vm, host_config

T = TypeVar("T")

SERVICES = ("sshd", "code-server", "opencode", "vnc", "openbox", "chromium", "novnc")
USER_NET = ("atelier.ip=10.0.2.15/24", "atelier.gw=10.0.2.2")
# Under QEMU TCG (no hardware virtualisation) one emulated CPU starts code-server, OpenCode
# and Chromium together: several minutes on a busy 2-core host. Generous, not a timing check.
READY_S = 900.0

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (image build: mmdebstrap, chroot; QEMU run dir)"
)
needs_qemu = pytest.mark.skipif(
    proc.which("qemu-system-x86_64") is None, reason="needs qemu-system-x86"
)


@dataclass
class DevVm:
    """A booted dev image with its agent client and host URLs of its forwarded services."""

    vm: BootedVm
    password: str
    code_server: str
    novnc: str
    opencode: str


async def ensure_image(config: AtelierConfig, name: str) -> BuiltImage:
    """The built image `name`, built now when missing or out of date."""
    result = await builder.build_image(config, name)
    return result.image


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float, what: str, every: float = 1.0
) -> T:
    """The first non-None result of `probe`, polled until `within` seconds have passed."""
    deadline = time.monotonic() + within
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = await probe()
        except (httpx.HTTPError, OSError) as exc:
            last, result = exc, None
        if result is not None:
            return result
        await asyncio.sleep(every)
    raise AssertionError(f"{what} did not happen within {within:.0f} s (last error: {last})")


async def http_get(url: str, auth: tuple[str, str] | None = None) -> httpx.Response:
    """One GET with a short timeout (OpenCode's first request after start may hang)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False) as http:
        return await http.get(url, auth=auth)


async def service_states(vm: BootedVm) -> dict[str, ServiceStatus]:
    return {s.name: s for s in await vm.client.service_list()}


async def all_running(vm: BootedVm, names: tuple[str, ...] = SERVICES) -> dict[str, ServiceStatus]:
    async def probe() -> dict[str, ServiceStatus] | None:
        states = await service_states(vm)
        ok = all(n in states and states[n].state == "running" for n in names)
        return states if ok else None

    return await eventually(probe, 300, f"services {', '.join(names)} running", every=2.0)


@asynccontextmanager
async def booted_dev(
    image: str, artifacts: Path, extra_cmdline: tuple[str, ...] = ()
) -> AsyncIterator[DevVm]:
    """Boot `image` with 2 GiB, loopback forwards and a fresh OpenCode password."""
    code, vnc, oc = free_port(), free_port(), free_port()
    forwards = (
        PortForward(code, ports.CODE_SERVER_PORT),
        PortForward(vnc, ports.NOVNC_PORT),
        PortForward(oc, ports.OPENCODE_PORT),
    )
    nic = Nic(kind="user", mac="52:54:00:12:34:56", forwards=forwards)
    config = host_config()
    built = catalog.find_image(config, image)
    async with booted_vm(
        config,
        image=image,
        memory_mb=built.manifest.recommended_memory_mb,
        # Both host cores: code-server, OpenCode, Xvnc and Chromium start together under TCG.
        vcpus=2,
        nics=(nic,),
        cmdline=(*USER_NET, *extra_cmdline),
        artifacts=artifacts,
    ) as vm:
        password = secrets.token_urlsafe(18)
        # The spawn pipeline's part of the contract (docs/images.md, "Per-sandbox secrets").
        await vm.client.write_file(
            ports.OPENCODE_PASSWORD_FILE, password.encode(), mode=0o600, owner="dev"
        )
        dev = DevVm(
            vm,
            password,
            f"http://127.0.0.1:{code}",
            f"http://127.0.0.1:{vnc}",
            f"http://127.0.0.1:{oc}",
        )
        try:
            yield dev
        finally:
            await save_service_logs(vm, artifacts)


async def save_service_logs(vm: BootedVm, artifacts: Path) -> None:
    """Copy each service's log from the guest into the test's artifact directory."""
    for name in SERVICES:
        try:
            logs = await vm.client.service_logs(name, tail=64 * 1024)
        except Exception:  # best effort: the VM may already be gone in a failed test
            continue
        (artifacts / f"service-{name}.log").write_bytes(logs.data)


def http_ok(response: httpx.Response) -> httpx.Response | None:
    return response if response.status_code < 500 else None
