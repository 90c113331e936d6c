"""Pointing a guest's package managers at the host's caches, at every boot.

`guest_setup(...)` returns the argv the agent runs in the guest: a small standard-library
Python script plus its JSON input. It writes, for root and every user with a home under
/home:

| tool | file | how |
|---|---|---|
| npm, pnpm, yarn 1, bun | `/etc/npmrc`, `/usr/local/etc/npmrc`, `~/.npmrc` | `registry=` in a marked block |
| yarn 1 | `~/.yarnrc` | `registry "…"` in a marked block |
| bun | `~/.bunfig.toml` | `[install] registry` in a marked block (skipped if the file has its own `[install]`) |
| pip | `/etc/pip.conf` | `[global] index-url`, `trusted-host` (other keys kept) |
| uv | `/etc/uv/uv.toml` | `index-url` in a marked block (skipped if the file sets an index) |
| login shells | `/etc/profile.d/atelier-package-caches.sh` | the same as environment variables |

Only Atelier's marked block is replaced; everything else in a file is kept. Nothing is
baked into images: the addresses depend on the network driver (`Allocation.services_host`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from atelier.runtime.registry.pypi_cache import index_url

BEGIN = "# >>> atelier package caches >>>"
END = "# <<< atelier package caches <<<"
PROFILE = "/etc/profile.d/atelier-package-caches.sh"
SCRIPT_TIMEOUT = 60.0


@dataclass(frozen=True)
class GuestCaches:
    """Where a guest reaches the caches."""

    host: str
    npm_port: int
    pypi_port: int

    @property
    def npm_url(self) -> str:
        """The npm registry URL (Verdaccio)."""
        return f"http://{self.host}:{self.npm_port}/"

    @property
    def pypi_url(self) -> str:
        """The simple index URL (proxpi)."""
        return index_url(self.host, self.pypi_port)

    def environment(self) -> dict[str, str]:
        """The same settings as environment variables (for login shells)."""
        return {
            "NPM_CONFIG_REGISTRY": self.npm_url,
            "YARN_REGISTRY": self.npm_url,
            "BUN_CONFIG_REGISTRY": self.npm_url,
            "PIP_INDEX_URL": self.pypi_url,
            "PIP_TRUSTED_HOST": self.host,
            "UV_DEFAULT_INDEX": self.pypi_url,
        }

    def files(self) -> dict[str, object]:
        """The script's input: block bodies per file kind."""
        profile = "".join(f"export {k}='{v}'\n" for k, v in self.environment().items())
        return {
            "begin": BEGIN,
            "end": END,
            "npmrc": f"registry={self.npm_url}\n",
            "yarnrc": f'registry "{self.npm_url}"\n',
            "bunfig": f'[install]\nregistry = "{self.npm_url}"\n',
            "uv": f'index-url = "{self.pypi_url}"\n',
            "pip": {"index-url": self.pypi_url, "trusted-host": self.host},
            "profile_path": PROFILE,
            "profile": f"{BEGIN}\n{profile}{END}\n",
        }


# Runs in the guest under `python3 -I`: standard library only; prints one JSON object.
SCRIPT = r"""
import configparser, json, os, pwd, sys
cfg = json.loads(sys.argv[1])
written, warnings = [], []

def strip(text):
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        if line.strip() == cfg["begin"]:
            skip = True
        elif line.strip() == cfg["end"]:
            skip = False
        elif not skip:
            out.append(line)
    return "".join(out)

def write(path, text, uid=0, gid=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".atelier-tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.chown(tmp, uid, gid)
    os.replace(tmp, path)
    written.append(path)

def managed(path, body, uid=0, gid=0, conflict=None):
    try:
        with open(path) as fh:
            rest = strip(fh.read())
    except FileNotFoundError:
        rest = ""
    if conflict and any(line.strip().startswith(conflict) for line in rest.splitlines()):
        warnings.append(path + ": not changed, it has its own " + " / ".join(conflict))
        return
    if rest and not rest.endswith("\n"):
        rest += "\n"
    write(path, rest + cfg["begin"] + "\n" + body + cfg["end"] + "\n", uid, gid)

for path in ("/etc/npmrc", "/usr/local/etc/npmrc"):
    managed(path, cfg["npmrc"])
users = [("/root", 0, 0)]
for entry in pwd.getpwall():
    if entry.pw_uid >= 1000 and entry.pw_dir.startswith("/home/") and os.path.isdir(entry.pw_dir):
        users.append((entry.pw_dir, entry.pw_uid, entry.pw_gid))
for home, uid, gid in users:
    managed(home + "/.npmrc", cfg["npmrc"], uid, gid)
    managed(home + "/.yarnrc", cfg["yarnrc"], uid, gid)
    managed(home + "/.bunfig.toml", cfg["bunfig"], uid, gid, conflict=("[install]",))
managed("/etc/uv/uv.toml", cfg["uv"], conflict=("index-url", "[[index]]", "index_url"))
pip = configparser.RawConfigParser()
pip.read("/etc/pip.conf")
if not pip.has_section("global"):
    pip.add_section("global")
for key, value in cfg["pip"].items():
    pip.set("global", key, value)
os.makedirs("/etc", exist_ok=True)
with open("/etc/pip.conf.atelier-tmp", "w") as fh:
    fh.write("# index-url and trusted-host are set by Atelier at every boot\n")
    pip.write(fh)
os.replace("/etc/pip.conf.atelier-tmp", "/etc/pip.conf")
written.append("/etc/pip.conf")
write(cfg["profile_path"], cfg["profile"])
print(json.dumps({"written": written, "warnings": warnings}))
"""


def guest_setup(caches: GuestCaches) -> list[str]:
    """The argv that configures a guest (run as root through the agent)."""
    return ["python3", "-I", "-c", SCRIPT, json.dumps(caches.files())]


def parse_result(stdout: str) -> tuple[list[str], list[str]]:
    """(files written, warnings) from the script's output."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            return list(data.get("written", [])), list(data.get("warnings", []))
    return [], [f"unexpected output from the guest cache setup: {stdout[-200:]!r}"]
