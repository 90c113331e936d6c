"""The steps of `atelier init`, in order; each calls the concern's own setup.

    checks ─► config ─► directories ─► firecracker ─► kernel ─► images ─► storage
           ─► network ─► proxy ─► ssh ─► caches ─► admin ─► units ─► enable

Steps that change the host itself (mounts, bridge, systemd, image and kernel builds) are
skipped in --root mode with the exact thing they would do; file steps run under the root.
"""

from __future__ import annotations

import json
from pathlib import Path

from atelier.core.doctor import Requirements
from atelier.core.host_admin import local_auth
from atelier.core.images import ImageService
from atelier.core.init import InitContext, PlanItem, Step, StepReport, desired_config
from atelier.core.init_services import ROOT_SKIP, Caches, Proxy, Ssh, _item
from atelier.core.install import install_firecracker
from atelier.core.network import NetworkService
from atelier.core.storage import StorageService
from atelier.core.units import desired_units, enable_plan, run_enable
from atelier.errors import AtelierError
from atelier.runtime.images.catalog import list_images
from atelier.runtime.images.kernel import Flavour, find_kernel
from atelier.runtime.network.select import HostFacts, choose_driver
from atelier.runtime.registry import install as cache_install
from atelier.runtime.storage.select import select_storage


class Checks:
    """KVM kind, VMM choice and required tools (reported; doctor gives the fixes)."""

    name, title = "checks", "host checks"

    async def check(self, ctx: InitContext) -> PlanItem:
        missing = [r for r in await Requirements(ctx.config).tools() if not r.ok]
        kvm = Requirements(ctx.config).kvm()
        detail = f"{kvm.detail}; " + (
            "missing: " + ", ".join(f"{r.name} ({r.fix})" for r in missing)
            if missing
            else "tools present"
        )
        return _item(self, "ok", detail)

    async def apply(self, ctx: InitContext) -> StepReport:
        return StepReport(self.name, ())


class ConfigFile:
    """The config file with the answers recorded and the installed services switched on."""

    name, title = "config", "configuration file"

    def _text(self, ctx: InitContext) -> str:
        path = ctx.path(ctx.config_file)
        data = json.loads(path.read_text()) if path.exists() else {}
        return json.dumps(desired_config(data, ctx.answers), indent=2) + "\n"

    async def check(self, ctx: InitContext) -> PlanItem:
        path = ctx.path(ctx.config_file)
        if path.exists() and path.read_text() == self._text(ctx):
            return _item(self, "ok", f"{path} holds every answer")
        return _item(self, "change", f"write {path}")

    async def apply(self, ctx: InitContext) -> StepReport:
        path = ctx.path(ctx.config_file)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        cache_install.write_if_changed(path, self._text(ctx), mode=0o640)
        return StepReport(self.name, (f"wrote {path}",))


class Directories:
    """Data and cache directories (0700: they hold secrets and the database)."""

    name, title = "directories", "state directories"

    def _dirs(self, ctx: InitContext) -> list[Path]:
        paths = ctx.staged.paths
        return [paths.data_dir, paths.cache_dir, paths.images]

    async def check(self, ctx: InitContext) -> PlanItem:
        missing = [d for d in self._dirs(ctx) if not d.is_dir()]
        if not missing:
            return _item(self, "ok", "present")
        return _item(self, "change", "create " + ", ".join(map(str, missing)))

    async def apply(self, ctx: InitContext) -> StepReport:
        made = []
        for directory in self._dirs(ctx):
            if not directory.is_dir():
                directory.mkdir(parents=True, mode=0o700)
                made.append(f"created {directory}")
        return StepReport(self.name, tuple(made))


class Firecracker:
    """A Firecracker release, when `setup.firecracker` names one (hardware KVM hosts)."""

    name, title = "firecracker", "Firecracker"

    async def check(self, ctx: InitContext) -> PlanItem:
        source = ctx.answers.firecracker
        binary = ctx.config.vmm.firecracker_binary
        if not source:
            return _item(self, "skipped", "no release given (setup.firecracker): QEMU is used")
        if Path(ctx.path(Path(binary))).exists():
            return _item(self, "ok", f"{binary} installed")
        if ctx.staging:
            return _item(self, "skipped", f"{ROOT_SKIP}install {source} to {binary}")
        return _item(self, "change", f"install {source} to {binary}")

    async def apply(self, ctx: InitContext) -> StepReport:
        assert ctx.answers.firecracker
        done = await install_firecracker(ctx.config, ctx.answers.firecracker)
        return StepReport(
            self.name, (f"installed Firecracker v{done.version} ({done.vmm_reason})",)
        )


class Kernel:
    """The guest kernel (custom build or Debian's cloud kernel)."""

    name, title = "kernel", "guest kernel"

    async def check(self, ctx: InitContext) -> PlanItem:
        flavour: Flavour = "custom" if ctx.answers.kernel == "custom" else "cloud"
        if ctx.answers.kernel == "skip":
            return _item(self, "skipped", "setup.kernel = skip")
        if find_kernel(ctx.staged, flavour) is not None:
            return _item(self, "ok", f"{flavour} kernel installed")
        if ctx.staging:
            return _item(
                self, "skipped", f"{ROOT_SKIP}run `atelier images kernel build --flavour {flavour}`"
            )
        return _item(self, "change", f"build the {flavour} kernel")

    async def apply(self, ctx: InitContext) -> StepReport:
        flavour: Flavour = "custom" if ctx.answers.kernel == "custom" else "cloud"
        row = await ImageService(ctx.config).build_kernel(flavour)
        return StepReport(self.name, (f"{flavour} kernel {row.kernel.release}",))


class Images:
    """The images sandboxes boot (setup.images, default minimal and dev-base)."""

    name, title = "images", "images"

    def _missing(self, ctx: InitContext) -> list[str]:
        built = {i.name for i in list_images(ctx.staged)}
        return [i for i in ctx.answers.images if i not in built]

    async def check(self, ctx: InitContext) -> PlanItem:
        missing = self._missing(ctx)
        if not missing:
            return _item(self, "ok", "built: " + ", ".join(ctx.answers.images))
        if ctx.staging:
            cmds = "; ".join(f"`atelier images build {i}`" for i in missing)
            return _item(self, "skipped", f"{ROOT_SKIP}run {cmds}")
        return _item(self, "change", "build " + ", ".join(missing))

    async def apply(self, ctx: InitContext) -> StepReport:
        actions = []
        for image in self._missing(ctx):
            await ImageService(ctx.config).build(image)
            actions.append(f"built image {image}")
        return StepReport(self.name, tuple(actions))


class Storage:
    """A reflink pool (loop-mounted XFS) when the data directory cannot reflink."""

    name, title = "storage", "storage pool"

    async def check(self, ctx: InitContext) -> PlanItem:
        if ctx.answers.storage == "skip":
            return _item(self, "skipped", "setup.storage = skip")
        cfg = ctx.config.storage
        if ctx.staging:
            pool, image = (
                cfg.pool_path(ctx.config.paths.data_dir),
                cfg.image_path(ctx.config.paths.data_dir),
            )
            return _item(
                self, "skipped",
                f"{ROOT_SKIP}create {image} ({cfg.pool_image_size_gb} GiB {cfg.pool_fs}) if the data"
                f" dir cannot reflink, mount it on {pool} and enable its .mount unit",
            )  # fmt: skip
        try:
            selection = await select_storage(cfg, ctx.config.paths.data_dir)
        except AtelierError as exc:  # an unmounted pool: setup mounts it
            return _item(self, "change", f"set up the pool ({exc})")
        if selection.driver in ("reflink", "lvm-thin"):
            return _item(self, "ok", f"{selection.driver}: {selection.reason}")
        return _item(self, "change", f"set up a reflink pool ({selection.reason})")

    async def apply(self, ctx: InitContext) -> StepReport:
        result = await StorageService(ctx.config).setup()
        return StepReport(self.name, result.actions, result.notes)


class Network:
    """The sandbox network (bridge, rules, resolver), with the cache ports allowed."""

    name, title = "network", "sandbox network"

    def _service(self, ctx: InitContext) -> NetworkService:
        ports = ctx.config.registry.npm_port, ctx.config.registry.pypi_port
        return NetworkService(ctx.config, extra_host_ports=ports if ctx.answers.caches else ())

    async def check(self, ctx: InitContext) -> PlanItem:
        driver, reason = choose_driver(ctx.config.network, HostFacts.probe())
        if ctx.answers.network == "skip":
            return _item(self, "skipped", "setup.network = skip")
        if driver != "bridge":
            return _item(self, "ok", f"{driver or 'none'}: {reason} (nothing to set up)")
        if ctx.staging:
            return _item(
                self, "skipped",
                f"{ROOT_SKIP}create bridge {ctx.config.network.bridge} on"
                f" {ctx.config.network.subnet}, install the isolation rules, start dnsmasq",
            )  # fmt: skip
        status = await self._service(ctx).status()
        if status.status is not None and status.status.healthy:
            return _item(self, "ok", f"bridge: {reason}")
        return _item(self, "change", f"set up the bridge ({reason})")

    async def apply(self, ctx: InitContext) -> StepReport:
        report = await self._service(ctx).setup()
        return StepReport(self.name, report.changes)


class Admin:
    """The first admin and an API token (shown once) in the CLI's client settings."""

    name, title = "admin", "first admin"

    async def check(self, ctx: InitContext) -> PlanItem:
        if ctx.staged.paths.data_dir.joinpath("atelier.db").exists() or ctx.config.database.url:
            async with local_auth(ctx.staged) as auth:
                if await auth.user_count() > 0:
                    return _item(self, "ok", "an admin exists")
        return _item(self, "change", f"create admin {ctx.answers.admin!r} and an API token")

    async def apply(self, ctx: InitContext) -> StepReport:
        async with local_auth(ctx.staged) as auth:
            if await auth.user_count() > 0:
                return StepReport(self.name, ())
            user = await auth.create_user(ctx.answers.admin, role="admin")
            _, ctx.token = await auth.create_token(user.id, "atelier init")
        return StepReport(self.name, (f"created admin {user.username} with an API token",))


class Units:
    """systemd units for the manager, the network, the caches and Caddy."""

    name, title = "units", "systemd units"

    async def check(self, ctx: InitContext) -> PlanItem:
        stale = [
            p for p, text in desired_units(ctx).items() if not p.exists() or p.read_text() != text
        ]
        if not stale:
            return _item(self, "ok", "up to date")
        return _item(self, "change", "write " + ", ".join(p.name for p in stale))

    async def apply(self, ctx: InitContext) -> StepReport:
        actions = []
        for path, text in desired_units(ctx).items():
            if cache_install.write_if_changed(path, text):
                actions.append(f"wrote {path}")
        return StepReport(self.name, tuple(actions))


class Enable:
    """`systemctl daemon-reload` and `enable --now` of the units."""

    name, title = "enable", "enable and start services"

    async def check(self, ctx: InitContext) -> PlanItem:
        commands, todo = await enable_plan(ctx)
        text = "; ".join(" ".join(c) for c in commands)
        if ctx.staging:
            return _item(self, "skipped", f"{ROOT_SKIP}run {text}")
        if not Path("/run/systemd/system").exists():
            return _item(self, "skipped", f"systemd is not running here: run {text} on the host")
        return (
            _item(self, "change", f"run {text}")
            if todo
            else _item(self, "ok", "enabled and running")
        )

    async def apply(self, ctx: InitContext) -> StepReport:
        return StepReport(self.name, tuple(await run_enable(ctx)))


STEPS: tuple[Step, ...] = (
    Checks(), ConfigFile(), Directories(), Firecracker(), Kernel(), Images(), Storage(),
    Network(), Proxy(), Ssh(), Caches(), Admin(), Units(), Enable(),
)  # fmt: skip

__all__ = ["STEPS"]
