"""Step actions for recipes, and the context they run in.

Commands run inside the tree with `unshare --mount --pid --fork --mount-proc` + `chroot`:
`/proc` is mounted in a private mount namespace and every process a step leaves behind dies
with its PID namespace, so no mount or daemon outlives a step. Steps without `network=True`
also get an empty network namespace; steps with it get the host's resolver and CA bundle for
the command's duration (never left in the tree) and the configured npm registry and PyPI
index in their environment. File actions write through `StepContext.path()`, which refuses
paths that would resolve outside the tree.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from atelier.runtime.host import proc
from atelier.runtime.images.base import BuildEvents
from atelier.runtime.images.errors import ImageBuildError
from atelier.runtime.images.logged import run_logged
from atelier.runtime.images.recipe import callable_fingerprint, tree_fingerprint

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Where the host's CA bundle is visible inside the tree while a network command runs: hosts
# behind a TLS-inspecting proxy need it, and it must never end up in an image.
BUILD_CA = "/tmp/atelier-build-ca.pem"
BASE_ENV = {"DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}


@dataclass(frozen=True)
class StepContext:
    """What a step action may use: the tree, the build log and the progress sink.

    `npm_registry` and `pypi_index` come from the `images` config, `downloads` is the cache
    for registry files (None: no cache), `args` holds the build arguments the recipe chain
    declared (see `Recipe.build_args`).
    """

    root: Path
    log: Path
    events: BuildEvents
    npm_registry: str = "https://registry.npmjs.org/"
    pypi_index: str = "https://pypi.org/simple"
    downloads: Path | None = None
    args: Mapping[str, str] = field(default_factory=dict)

    def path(self, inside: str) -> Path:
        """The host path of an absolute path inside the tree; refuses escapes."""
        pure = PurePosixPath(inside)
        if not pure.is_absolute() or ".." in pure.parts:
            raise ImageBuildError(
                f"step path {inside!r} must be absolute and must not contain '..'"
            )
        host = self.root / pure.relative_to("/")
        resolved = Path(os.path.realpath(host))
        root = Path(os.path.realpath(self.root))
        if resolved != root and root not in resolved.parents:
            raise ImageBuildError(
                f"step path {inside!r} resolves outside the image tree (to {resolved})",
                hint="an absolute symlink in the tree points at the host; write its target",
            )
        return host

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 900,
        network: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Run a command inside the tree; CommandError (with the log tail) on failure.

        With `network`, the host's resolver and CA bundle are in the tree while it runs and
        the environment names the configured registries; `env` is added last.
        """
        if not network:
            await self._run(argv, timeout, network, {**BASE_ENV, **(env or {})})
            return
        with host_network(self) as net_env:
            await self._run(argv, timeout, network, {**BASE_ENV, **net_env, **(env or {})})

    async def _run(
        self, argv: Sequence[str], timeout: float, network: bool, env: Mapping[str, str]
    ) -> None:
        await run_logged(
            chroot_argv(self.root, argv, network=network),
            log=self.log,
            timeout=timeout,
            events=self.events,
            env=env,
        )

    def registry_env(self) -> dict[str, str]:
        """Environment variables that point npm, uv and pip at the configured registries."""
        return {
            "npm_config_registry": self.npm_registry,
            "UV_DEFAULT_INDEX": self.pypi_index,
            "PIP_INDEX_URL": self.pypi_index,
        }


@contextmanager
def host_network(ctx: StepContext) -> Iterator[dict[str, str]]:
    """Put the host's resolv.conf and CA bundle into the tree; restore the tree afterwards.

    Yields the environment a network command needs (registries, CA bundle variables).
    """
    resolv = ctx.path("/etc/resolv.conf")
    saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
    ca = ctx.path(BUILD_CA)
    env = ctx.registry_env()
    try:
        resolv.unlink(missing_ok=True)
        shutil.copyfile(HOST_RESOLV_CONF, resolv)
        if HOST_CA_BUNDLE.is_file() and ca.parent.is_dir():
            shutil.copyfile(HOST_CA_BUNDLE, ca)
            env |= {
                "NODE_EXTRA_CA_CERTS": BUILD_CA,
                "SSL_CERT_FILE": BUILD_CA,
                "REQUESTS_CA_BUNDLE": BUILD_CA,
                "PIP_CERT": BUILD_CA,
            }
        yield env
    finally:
        ca.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
        if saved is not None:
            resolv.write_bytes(saved)


def chroot_argv(root: Path, argv: Sequence[str], *, network: bool) -> list[proc.Arg]:
    """The host argv that runs `argv` inside `root` in fresh mount and PID namespaces."""
    cmd: list[proc.Arg] = ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={root}/proc"]
    if not network:
        cmd.append("--net")
    return [*cmd, "chroot", root, *argv]


@dataclass(frozen=True)
class Run:
    """Run a command inside the tree, optionally as another user, in a directory, with env.

    `user` runs it through `runuser -u`, `cwd` and `env` through `env --chdir`, so the
    command needs no shell.
    """

    argv: tuple[str, ...]
    timeout: float = 900
    network: bool = False
    env: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    cwd: str | None = None

    def fingerprint(self) -> str:
        """See Action."""
        text = "run\0" + "\0".join(self.argv) + f"\0net={self.network}"
        # Extras only when used, so the hashes of recipes written before them stay the same.
        if self.env or self.user or self.cwd:
            pairs = " ".join(f"{key}={value}" for key, value in self.env)
            text += f"\0env={pairs}\0user={self.user or ''}\0cwd={self.cwd or ''}"
        return text

    def command(self) -> list[str]:
        """The argv run inside the chroot."""
        argv = list(self.argv)
        if self.cwd or self.env:
            chdir = [f"--chdir={self.cwd}"] if self.cwd else []
            argv = ["env", *chdir, *(f"{key}={value}" for key, value in self.env), *argv]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return argv

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        await ctx.run(self.command(), timeout=self.timeout, network=self.network)


@dataclass(frozen=True)
class WriteFile:
    """Write a file (parents are created root-owned, 0755)."""

    path: str
    content: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0

    def fingerprint(self) -> str:
        """See Action."""
        return f"write\0{self.path}\0{self.mode:o}\0{self.uid}:{self.gid}\0{self.content}"

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        target = ctx.path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.write_text(self.content)
        os.chown(target, self.uid, self.gid)
        target.chmod(self.mode)


@dataclass(frozen=True)
class MakeDirs:
    """Create directories with a mode and owner."""

    paths: tuple[str, ...]
    mode: int = 0o755
    uid: int = 0
    gid: int = 0

    def fingerprint(self) -> str:
        """See Action."""
        return f"mkdir\0{' '.join(self.paths)}\0{self.mode:o}\0{self.uid}:{self.gid}"

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        for inside in self.paths:
            target = ctx.path(inside)
            target.mkdir(parents=True, exist_ok=True)
            os.chown(target, self.uid, self.gid)
            target.chmod(self.mode)


@dataclass(frozen=True)
class RemovePaths:
    """Delete files or trees matching glob patterns (absolute, inside the tree)."""

    patterns: tuple[str, ...]

    def fingerprint(self) -> str:
        """See Action."""
        return "rm\0" + "\0".join(self.patterns)

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        for pattern in self.patterns:
            ctx.path(str(PurePosixPath(pattern).parent))
            for match in sorted(ctx.root.glob(pattern.lstrip("/"))):
                if match.is_dir() and not match.is_symlink():
                    shutil.rmtree(match)
                else:
                    match.unlink(missing_ok=True)


@dataclass(frozen=True)
class AddUser:
    """A user with its own group, a home from /etc/skel and optional passwordless sudo.

    The password field is `*`: no password login, but key-based ssh works.
    """

    name: str
    uid: int
    shell: str = "/bin/bash"
    groups: tuple[str, ...] = ()
    sudo: bool = False

    def fingerprint(self) -> str:
        """See Action."""
        return f"user\0{self.name}\0{self.uid}\0{self.shell}\0{','.join(self.groups)}\0{self.sudo}"

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        home = f"/home/{self.name}"
        await ctx.run(["groupadd", "--gid", str(self.uid), self.name])
        argv = ["useradd", "--uid", str(self.uid), "--gid", str(self.uid), "--create-home"]
        argv += ["--home-dir", home, "--shell", self.shell, "--password", "*"]
        if self.groups:
            argv += ["--groups", ",".join(self.groups)]
        await ctx.run([*argv, self.name])
        await MakeDirs((f"{home}/.ssh",), 0o700, self.uid, self.uid).apply(ctx)
        if self.sudo:
            rule = f"{self.name} ALL=(ALL:ALL) NOPASSWD:ALL\n"
            sudoers = f"/etc/sudoers.d/{self.name}"
            await WriteFile(sudoers, rule, 0o440).apply(ctx)
            await ctx.run(["visudo", "--check", "--file", sudoers])


@dataclass(frozen=True)
class CopyTree:
    """Copy an overlay directory from the host into the tree (root-owned, modes kept)."""

    source: Path
    dest: str = "/"

    def fingerprint(self) -> str:
        """See Action."""
        return f"copy\0{self.dest}\0{tree_fingerprint(self.source)}"

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        for path in sorted(self.source.rglob("*")):
            inside = str(PurePosixPath(self.dest) / path.relative_to(self.source).as_posix())
            target = ctx.path(inside)
            if path.is_symlink():
                target.unlink(missing_ok=True)
                target.symlink_to(path.readlink())
            elif path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                shutil.copy2(path, target)
            os.chown(target, 0, 0, follow_symlinks=False)


@dataclass(frozen=True)
class AptInstall:
    """Install Debian packages inside the tree (network on, services kept from starting)."""

    packages: tuple[str, ...]

    def fingerprint(self) -> str:
        """See Action."""
        return "apt\0" + " ".join(self.packages)

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        policy = ctx.path("/usr/sbin/policy-rc.d")
        try:
            policy.write_text("#!/bin/sh\n# no services start during an image build\nexit 101\n")
            policy.chmod(0o755)
            await ctx.run(["apt-get", "update"], network=True)
            install = ["apt-get", "install", "-y", "--no-install-recommends", *self.packages]
            await ctx.run(install, timeout=3600, network=True)
            await ctx.run(["apt-get", "clean"])
        finally:
            policy.unlink(missing_ok=True)
        await RemovePaths(("/var/lib/apt/lists/*",)).apply(ctx)


@dataclass(frozen=True)
class Call:
    """Run a Python coroutine function with the step context (hashed by its source)."""

    func: Callable[[StepContext], Awaitable[None]]

    def fingerprint(self) -> str:
        """See Action."""
        return "call\0" + callable_fingerprint(self.func)

    async def apply(self, ctx: StepContext) -> None:
        """See Action."""
        await self.func(ctx)
