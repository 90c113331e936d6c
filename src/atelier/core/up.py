"""`atelier up`: make this host able to run sandboxes on its embedded defaults.

Each step checks before it acts, so running `up` again changes nothing: a guest kernel
(the custom one when built, else Debian's cloud kernel), the default image, a reflink
storage pool (a loop-mounted XFS image when the data directory cannot reflink), and a
first admin with an API token written to the CLI's client.json.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from atelier.config import AtelierConfig, client_config_path
from atelier.core.host_admin import local_auth
from atelier.core.images import ImageService
from atelier.core.storage import SYSTEMD_UNIT_DIR, StorageService
from atelier.runtime.images.base import BuildEvents
from atelier.runtime.images.catalog import list_images
from atelier.runtime.images.kernel import resolve_kernel


@dataclass
class UpReport:
    """What `up` prepared."""

    kernel: str = ""
    image: str = ""
    storage: str = ""
    admin: str | None = None
    token: str | None = None
    password: str | None = None  # the dashboard password of the first admin, shown once
    client_config: str | None = None
    notes: list[str] = field(default_factory=list)


# Rough first-build times on a small (2-core) host; later starts reuse the image.
_BUILD_TIME = {"minimal": "about 2 minutes", "dev-base": "10 to 20 minutes"}


async def prepare(
    config: AtelierConfig,
    say: Callable[[str], None],
    *,
    unit_dir: Path | None = SYSTEMD_UNIT_DIR,
    events: BuildEvents | None = None,
) -> UpReport:
    """Prepare kernel, image, storage and the first admin; returns what was done.

    `unit_dir` receives the systemd unit that remounts a loop-mounted pool at boot
    (None: no unit, for staging and tests). `events` shows the image build step by step.
    """
    report = UpReport()
    say("guest kernel")
    kernel = await resolve_kernel(config)
    report.kernel = f"{kernel.flavour} {kernel.release}"
    if kernel.flavour == "cloud":
        report.notes.append(
            "booting Debian's cloud kernel; `atelier images kernel build` makes the faster"
            " custom one (about 7 minutes)"
        )
    image = config.images.default_image
    # minimal too: `atelier debug-vm` and `atelier doctor` boot it to check the host.
    for name in dict.fromkeys(("minimal", image)):
        if name not in {i.name for i in list_images(config)}:
            say(f"building image {name} ({_BUILD_TIME.get(name, 'several minutes')}, once)")
            await ImageService(config).build(name, events=events)
    report.image = image
    say("storage pool")
    storage = StorageService(config)
    if os.geteuid() == 0 and config.storage.driver == "auto":
        result = await storage.setup(unit_dir=unit_dir)
        if result.actions:
            report.notes.append("storage: " + "; ".join(result.actions))
    selection = await storage.select()
    report.storage = f"{selection.driver}: {selection.reason}"
    say("admin account")
    async with local_auth(config) as auth:
        if await auth.user_count() == 0:
            password = secrets.token_urlsafe(12)
            admin = await auth.create_user("admin", role="admin", password=password)
            _, raw = await auth.create_token(admin.id, "atelier up")
            report.admin, report.token, report.password = admin.username, raw, password
            report.client_config = str(_write_client_config(config, raw))
    return report


def _write_client_config(config: AtelierConfig, token: str) -> Path:
    path = client_config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = f"http://{config.server.host}:{config.server.port}"
    data = {"url": url, "token": token}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    return path
