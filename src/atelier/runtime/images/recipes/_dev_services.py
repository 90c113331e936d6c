"""The services `dev-base` declares for the guest init: code-server, OpenCode, the VNC desktop.

Each becomes `/etc/atelier/services.d/<name>.json` (format: docs/agent-protocol.md, "Service
registry"). All run as `dev`, start at boot and are restarted when they exit. Ports stay off
the common dev-server ports (3000, 5173, 8000, 8080), which workspaces may use.
"""

from __future__ import annotations

import json
from typing import Any

from atelier.runtime.images.recipe import Step
from atelier.runtime.images.steps import WriteFile

OPENCODE_PASSWORD_FILE = "/run/atelier/secrets/opencode-password"
# No calls out at start (update checks, the models.dev catalogue, LSP downloads, sharing):
# the versions are pinned and the bundled model catalogue is used.
OPENCODE_ENV = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
}
# The desktop (X server, window manager, browser, websockify) runs at a lower priority so
# code-server and OpenCode come up first on a busy or emulated CPU.
DESKTOP_NICE = ["/usr/bin/nice", "-n", "10"]

# Ports: none of them is a common dev-server port (3000, 5173, 8000, 8080).
CODE_SERVER_PORT = 13337
OPENCODE_PORT = 4096
NOVNC_PORT = 6080
VNC_PORT = 5901  # loopback only; noVNC is the way in
DISPLAY = ":1"
SCREEN = "1280x800"

# A lean Chromium: on an emulated CPU (QEMU TCG) each extra process and background job costs
# minutes. The GPU and network services run inside the browser process (the VM is the
# isolation boundary), there is no software GL (WebGL is off; pages are composited in
# software), and nothing calls Google's services, which a sandbox cannot reach anyway.
# With the default flags the start page had not loaded after 20 minutes under TCG; with
# these it loads in about a minute, next to OpenCode's start.
CHROMIUM_FLAGS = (
    "--no-first-run", "--no-default-browser-check", "--password-store=basic",
    "--hide-crash-restore-bubble", "--disable-dev-shm-usage",
    "--disable-gpu", "--disable-software-rasterizer", "--in-process-gpu",
    "--enable-features=NetworkServiceInProcess2",
    "--disable-features=Translate,MediaRouter,OptimizationHints,OptimizationHintsFetching,"
    "OptimizationGuideModelDownloading,OnDeviceModelService,Vulkan,WebGPUService",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-breakpad", "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-component-extensions-with-background-pages", "--no-pings",
    "--start-maximized", "--window-position=0,0", f"--window-size={SCREEN.replace('x', ',')}",
    "--user-data-dir=/home/dev/.config/chromium",
)  # fmt: skip
START_PAGE = "file:///usr/local/share/atelier/browser/index.html"


def _service(description: str, argv: list[str], **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "description": description,
        "argv": argv,
        "user": "dev",
        "autostart": True,
        "restart": "always",
    }
    return spec | extra


SERVICES: dict[str, dict[str, Any]] = {
    # The guest init's built-in sshd definition, started at boot in dev images.
    "sshd": {
        "description": "OpenSSH server (keys only; reached through the Atelier SSH gateway)",
        "argv": ["/usr/sbin/sshd", "-D", "-e"],
        "dirs": ["/run/sshd"],
        "autostart": True,
        "restart": "always",
        "port": 22,
    },
    "code-server": _service(
        "VS Code in the browser (code-server); auth is done by the Atelier proxy",
        [
            "/usr/local/bin/code-server",
            "--bind-addr",
            f"0.0.0.0:{CODE_SERVER_PORT}",
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "/home/dev/workspace",
        ],
        cwd="/home/dev/workspace",
        port=CODE_SERVER_PORT,
    ),
    "opencode": _service(
        f"OpenCode API; HTTP Basic user opencode, password from {OPENCODE_PASSWORD_FILE}",
        ["/usr/local/libexec/atelier/opencode-serve"],
        cwd="/home/dev/workspace",
        env=OPENCODE_ENV,
        port=OPENCODE_PORT,
    ),
    "vnc": _service(
        "X display :1 with a VNC server on loopback (TigerVNC)",
        [
            *DESKTOP_NICE,
            "/usr/bin/Xtigervnc",
            DISPLAY,
            "-localhost",
            "-rfbport",
            str(VNC_PORT),
            "-SecurityTypes",
            "None",
            "-geometry",
            SCREEN,
            "-depth",
            "24",
            "-AlwaysShared",
        ],
        # X as a user cannot create the socket directory itself.
        dirs=["/tmp/.X11-unix"],
        port=VNC_PORT,
    ),
    "openbox": _service(
        "window manager on display :1",
        [*DESKTOP_NICE, "/usr/local/libexec/atelier/with-display", "/usr/bin/openbox"],
        env={"DISPLAY": DISPLAY},
    ),
    "chromium": _service(
        "Chromium on display :1 (seen through noVNC)",
        [
            *DESKTOP_NICE,
            "/usr/local/libexec/atelier/with-display",
            "/usr/bin/chromium",
            *CHROMIUM_FLAGS,
            START_PAGE,
        ],
        env={"DISPLAY": DISPLAY},
    ),
    "novnc": _service(
        "noVNC web client and websockify on port 6080 (to the VNC server on loopback)",
        [
            *DESKTOP_NICE,
            "/usr/bin/websockify",
            "--web",
            "/usr/share/novnc",
            f"0.0.0.0:{NOVNC_PORT}",
            f"127.0.0.1:{VNC_PORT}",
        ],
        port=NOVNC_PORT,
    ),
}


def service_steps() -> tuple[Step, ...]:
    """One step per service definition file."""
    return tuple(
        Step(
            f"service {name}",
            WriteFile(
                f"/etc/atelier/services.d/{name}.json",
                json.dumps(spec, indent=2, sort_keys=True) + "\n",
            ),
        )
        for name, spec in SERVICES.items()
    )
