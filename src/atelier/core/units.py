"""The systemd units `atelier init` installs for one configuration, and enabling them.

`desired_units(ctx)` maps each unit file (under the staging root in --root mode) to its
text, which always names the real host paths; the text comes from the pure builders in
`atelier.runtime.host.systemd`, Caddy's own `systemd_unit` and storage's `mount_unit`.
"""

from __future__ import annotations

from pathlib import Path

from atelier.core.init import InitContext
from atelier.core.registry import registry_settings
from atelier.errors import AtelierError
from atelier.runtime.host import proc, systemd
from atelier.runtime.network.select import HostFacts, choose_driver
from atelier.runtime.proxy import certbot
from atelier.runtime.proxy.config import resolve as resolve_proxy
from atelier.runtime.proxy.process import systemd_unit as caddy_unit
from atelier.runtime.registry import NPM, PYPI, pypi_cache, server_specs, verdaccio
from atelier.runtime.storage.config import GIB
from atelier.runtime.storage.pool import PoolSpec, mount_unit, unit_name

__all__ = ["desired_units", "enable_plan", "run_enable", "unit_names"]

SYSTEMCTL_TIMEOUT = 120.0


def _cache_units(ctx: InitContext, driver: str | None) -> dict[str, str]:
    s = registry_settings(ctx.config, driver)
    specs = server_specs(s)
    units = {}
    for name, unit_file, what, pre in (
        (NPM, systemd.VERDACCIO, f"npm cache (Verdaccio {verdaccio.VERDACCIO_VERSION}"
         f" on Node {verdaccio.NODE_VERSION})", ()),
        (PYPI, systemd.PYPI_CACHE, f"PyPI cache (proxpi {pypi_cache.PINS['proxpi']})",
         systemd.evict_argv(pypi_cache.storage_dir(s), s.max_age_days)),
    ):  # fmt: skip
        spec = specs[name]
        units[unit_file] = systemd.cache_unit(
            systemd.CacheUnit(
                f"Atelier {what}", spec.argv, spec.env, spec.cwd, s.root, spec.log, pre
            )
        )
    return units


def unit_names(ctx: InitContext) -> dict[str, str]:
    """Unit name → text for every unit this configuration needs."""
    config = ctx.config
    driver, _ = choose_driver(config.network, HostFacts.probe())
    units: dict[str, str] = {systemd.NETWORK: systemd.network_unit(ctx.atelier, ctx.config_file)}
    after: list[str] = []
    if ctx.answers.caches and config.registry.mode == "service":
        caches = _cache_units(ctx, driver)
        units.update(caches)
        after += list(caches)
    if config.proxy.caddy == "service":
        settings = resolve_proxy(
            config.proxy, data_dir=config.paths.data_dir, run_dir=config.paths.run_dir,
            manager_host=config.server.host, manager_port=config.server.port,
        )  # fmt: skip
        binary = proc.which(config.proxy.caddy_binary) or "/usr/bin/caddy"
        units[systemd.CADDY] = caddy_unit(settings, binary)
        after.append(systemd.CADDY)
        if config.proxy.tls == "wildcard_files":
            units[certbot.SERVICE_NAME] = certbot.service_unit()
            units[certbot.TIMER_NAME] = certbot.timer_unit()
    pool = config.storage.pool_path(config.paths.data_dir)
    if ctx.staging and ctx.answers.storage == "pool":
        image = config.storage.image_path(config.paths.data_dir)
        spec = PoolSpec(
            image, pool, config.storage.pool_image_size_gb * GIB, config.storage.pool_fs
        )
        units[unit_name(pool)] = mount_unit(spec)
    manager = systemd.ManagerUnit(
        ctx.atelier, ctx.config_file, config.paths.data_dir, (pool,), tuple(after)
    )
    units[systemd.MANAGER] = systemd.manager_unit(manager)
    return units


def desired_units(ctx: InitContext) -> dict[Path, str]:
    """Unit file path (staged in --root mode) → text."""
    unit_dir = ctx.path(systemd.UNIT_DIR)
    return {unit_dir / name: text for name, text in unit_names(ctx).items()}


def _commands(names: list[str], caddy: bool) -> list[list[str]]:
    commands = [["systemctl", "daemon-reload"]]
    if caddy:
        # Debian's own caddy.service wants port 80 as well.
        commands.append(["systemctl", "disable", "--now", "caddy.service"])
    commands.append(["systemctl", "enable", "--now", *names])
    return commands


async def enable_plan(ctx: InitContext) -> tuple[list[list[str]], bool]:
    """The systemctl commands, and whether any unit is not yet enabled and active."""
    # The certbot service is started by its timer, never enabled itself.
    names = [n for n in unit_names(ctx) if n != certbot.SERVICE_NAME]
    commands = _commands(names, ctx.config.proxy.caddy == "service")
    if ctx.staging or not Path("/run/systemd/system").exists():
        return commands, True
    for name in names:
        for verb, wanted in (("is-enabled", "enabled"), ("is-active", "active")):
            done = await proc.run(["systemctl", verb, name], timeout=SYSTEMCTL_TIMEOUT, check=False)
            if done.text.strip() != wanted:
                return commands, True
    return commands, False


async def run_enable(ctx: InitContext) -> list[str]:
    """Run the systemctl commands; returns them as actions."""
    commands, _ = await enable_plan(ctx)
    actions = []
    for argv in commands:
        try:
            await proc.run(argv, timeout=SYSTEMCTL_TIMEOUT, check=argv[1] != "disable")
        except AtelierError as exc:
            raise AtelierError(
                f"{' '.join(argv)} failed: {exc.message}",
                code="init_failed",
                hint="see `journalctl -u atelier-manager` and `atelier doctor`",
            ) from exc
        actions.append(" ".join(argv))
    return actions
