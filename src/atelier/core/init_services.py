"""The init steps for the services beside the manager: Caddy's base config, the SSH
gateway's host key, and the package caches. Split from `init_steps` to keep modules small."""

from __future__ import annotations

import json
from pathlib import Path

from atelier.config import AtelierConfig
from atelier.core.init import InitContext, PlanItem, State, Step, StepReport
from atelier.core.proxy.tokens import ProxyKeys
from atelier.core.registry import registry_settings
from atelier.core.ssh import gateway_info
from atelier.runtime.network.select import HostFacts, choose_driver
from atelier.runtime.proxy.caddy_config import CaddyLayout
from atelier.runtime.proxy.config import ProxySettings
from atelier.runtime.proxy.config import resolve as resolve_proxy
from atelier.runtime.registry import RegistrySettings, pypi_cache, verdaccio
from atelier.runtime.registry import install as cache_install

ROOT_SKIP = "skipped in --root mode: would "
PROXY_KEY_FILE = "proxy.key"  # ProxyKeys.from_data_dir creates it


def _item(step: Step, state: State, detail: str) -> PlanItem:
    return PlanItem(step.name, step.title, state, detail)


def network_driver(ctx: InitContext) -> str | None:
    driver, _ = choose_driver(ctx.config.network, HostFacts.probe())
    return driver


class Proxy:
    """Caddy's base config (its unit is written by the units step)."""

    name, title = "proxy", "HTTPS proxy (Caddy)"

    def _settings(self, config: AtelierConfig) -> ProxySettings:
        return resolve_proxy(
            config.proxy, data_dir=config.paths.data_dir, run_dir=config.paths.run_dir,
            manager_host=config.server.host, manager_port=config.server.port,
        )  # fmt: skip

    def _file(self, ctx: InitContext) -> tuple[Path, str]:
        """Where the base config goes (staged) and its text (real paths)."""
        real = self._settings(ctx.config)
        keys = ProxyKeys.from_data_dir(ctx.staged.paths.data_dir)
        text = json.dumps(CaddyLayout(real, keys.caddy_secret).base_config(), indent=2)
        return ctx.path(real.config_file), text

    async def check(self, ctx: InitContext) -> PlanItem:
        if ctx.config.proxy.caddy != "service":
            return _item(self, "skipped", f"proxy.caddy is {ctx.config.proxy.caddy}")
        if not (ctx.staged.paths.data_dir / PROXY_KEY_FILE).exists():  # made by apply, not here
            return _item(self, "change", "create the proxy key and Caddy's base config")
        path, text = self._file(ctx)
        if path.exists() and path.read_text() == text:
            return _item(self, "ok", f"{path} up to date")
        return _item(self, "change", f"write {path}")

    async def apply(self, ctx: InitContext) -> StepReport:
        path, text = self._file(ctx)
        real = self._settings(ctx.config)
        for directory in (real.state_dir, real.admin_socket.parent):
            ctx.path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
        # The file holds the shared secret between Caddy and the manager: 0600.
        cache_install.write_if_changed(path, text, mode=0o600)
        return StepReport(self.name, (f"wrote {path}",))


class Ssh:
    """The SSH gateway's host key (the gateway itself runs inside the manager)."""

    name, title = "ssh", "SSH gateway"

    async def check(self, ctx: InitContext) -> PlanItem:
        key = ctx.staged.ssh.host_key_file(ctx.staged.paths.data_dir)
        if key.exists():
            return _item(self, "ok", f"host key {key}")
        return _item(self, "change", f"create host key {key}")

    async def apply(self, ctx: InitContext) -> StepReport:
        info = gateway_info(ctx.staged)
        return StepReport(self.name, (f"created host key {info.fingerprint}",))


class Caches:
    """Verdaccio and the PyPI cache, installed into the registry directory with pins."""

    name, title = "caches", "package caches"

    def _settings(self, ctx: InitContext) -> tuple[RegistrySettings, RegistrySettings]:
        """(settings as the host sees them, the same under the staging root)."""
        real = registry_settings(ctx.config, network_driver(ctx))
        return real, real.with_root(ctx.root) if ctx.root else real

    async def check(self, ctx: InitContext) -> PlanItem:
        if not ctx.answers.caches:
            return _item(self, "skipped", "setup.caches = false")
        real, at = self._settings(ctx)
        todo = list(cache_install.npm_missing(at))
        conf = verdaccio.config_file(at)
        if not conf.exists() or conf.read_text() != verdaccio.config_text(real):
            todo.append("Verdaccio's config")
        if await cache_install.pypi_installed(at) != pypi_cache.PINS:
            todo.append("proxpi")
        if not todo:
            return _item(self, "ok", f"installed in {at.root}")
        return _item(self, "change", f"install {', '.join(todo)} into {at.root}")

    async def apply(self, ctx: InitContext) -> StepReport:
        real, at = self._settings(ctx)
        actions = await cache_install.install_npm_cache(at)
        actions += cache_install.write_npm_config(real, at=at)
        actions += await cache_install.install_pypi_cache(at)
        return StepReport(self.name, tuple(actions))
