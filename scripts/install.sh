#!/usr/bin/env bash
# Installs everything Atelier needs on Debian 12 and starts it on its embedded defaults.
#
#   sudo ./scripts/install.sh              # install, then run `atelier up` in the foreground
#   sudo ./scripts/install.sh --deps-only  # install dependencies only (what CI does)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
deps_only=0
for arg in "$@"; do
  case "$arg" in
    --deps-only) deps_only=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (allowed: --deps-only)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (sudo $0): Atelier creates VMs, loop devices and network devices" >&2
  exit 1
fi

phase() { printf '\n==> %s\n' "$*"; }

phase "apt packages"
mapfile -t packages < <(grep -v '^\s*#' "$here/scripts/apt-packages.txt" | grep -v '^\s*$')
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
# Node.js and npm fetch packages from the npm registry (images, tests). Use the host's
# when it has them (e.g. a NodeSource build, which conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  apt-get install -y -q --no-install-recommends nodejs npm
fi
# Debian enables these units on install; Atelier starts its own instances.
for unit in caddy.service; do
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
done

phase "Python environment (uv.lock)"
tools=/opt/atelier-tools
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet "uv==0.13.9"
fi
cd "$here"
UV_PROJECT_ENVIRONMENT="$here/.venv" "$tools/bin/uv" sync --frozen --python python3 --quiet
ln -sf "$here/.venv/bin/atelier" /usr/local/bin/atelier
"$here/.venv/bin/atelier" --version

if [ "$deps_only" -eq 1 ]; then
  exit 0
fi

phase "starting Atelier"
exec "$here/.venv/bin/atelier" up
