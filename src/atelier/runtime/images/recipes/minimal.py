"""`minimal`: the smallest image a sandbox boots, used by tests and as the root of the others.

Debian bookworm (minbase) with Python (for the agent), OpenSSH, git, networking and
firewall tools, and the `dev` user (uid/gid 1000, passwordless sudo). No systemd: the guest
boots with Atelier's own init, delivered by the boot bundle, which also regenerates the
SSH host keys and machine-id per sandbox (so the build-time ones are deleted here).
"""

from __future__ import annotations

from atelier.runtime.images.recipe import Recipe, Step
from atelier.runtime.images.steps import AddUser, MakeDirs, RemovePaths, Run, WriteFile

SSHD_CONFIG = """\
# Atelier: keys only. Host keys are generated per sandbox by the guest init.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PubkeyAuthentication yes
PermitEmptyPasswords no
UseDNS no
PrintMotd no
# What the SSH gateway relays: client environment (SetEnv/SendEnv), local forwards (-L),
# agent forwarding when the client asks for it (-A), sftp (and scp's sftp mode).
AcceptEnv *
AllowTcpForwarding local
AllowAgentForwarding yes
Subsystem sftp internal-sftp
"""

PACKAGES = (
    "python3", "openssh-server", "iproute2", "git", "ca-certificates", "e2fsprogs",
    "kmod", "nftables", "iptables", "util-linux", "procps", "sudo", "passwd", "netbase",
)  # fmt: skip

NOTABLE = (
    "python3", "python3.11", "openssh-server", "git", "iproute2", "nftables", "iptables",
    "sudo", "e2fsprogs", "util-linux", "procps", "kmod", "ca-certificates", "libc6",
)  # fmt: skip

# mmdebstrap leaves the build host's resolver here; each sandbox gets its own at boot.
RESOLV_CONF = "# written by the Atelier guest init at boot\n"

# SSH host keys and machine-id are per sandbox; caches and logs only cost space.
CLEANUP = (
    "/etc/ssh/ssh_host_*",
    "/var/lib/dbus/machine-id",
    "/var/cache/apt/*.bin",
    "/var/cache/debconf/*-old",
    "/var/lib/dpkg/*-old",
    "/var/log/*.log",
    "/var/log/apt/*",
    "/tmp/*",
)

RECIPE = Recipe(
    name="minimal",
    description="Debian bookworm with python3, OpenSSH, git and the dev user",
    version="1",
    packages=PACKAGES,
    steps=(
        Step("dev user", AddUser("dev", 1000, groups=("sudo",), sudo=True)),
        Step("sshd: keys only", WriteFile("/etc/ssh/sshd_config.d/atelier.conf", SSHD_CONFIG)),
        # A second `Subsystem sftp` line is fatal to sshd: ours (internal-sftp) replaces
        # Debian's, which points at a package minbase does not install.
        Step(
            "sshd: one sftp subsystem",
            Run(("sed", "-i", "/^Subsystem[[:space:]]/d", "/etc/ssh/sshd_config")),
        ),
        Step("atelier dirs", MakeDirs(("/etc/atelier", "/etc/atelier/services.d"))),
        Step("hostname", WriteFile("/etc/hostname", "sandbox\n")),
        Step("resolv.conf placeholder", WriteFile("/etc/resolv.conf", RESOLV_CONF)),
        Step("empty machine-id", WriteFile("/etc/machine-id", "", 0o444)),
        Step(
            "drop build-time identity and caches",
            RemovePaths(CLEANUP),
        ),
    ),
    notable_packages=NOTABLE,
    recommended_memory_mb=512,
    headroom_mb=512,
)
