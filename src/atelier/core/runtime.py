"""The runtime drivers the manager uses, chosen once at start with visible reasons.

`build_runtime` selects the VMM, storage and network drivers from the config (or detects
them) and records why each was chosen, so `atelier manager status` and `/health` can say.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from atelier.config import AtelierConfig
from atelier.core.assets import BootAssets
from atelier.core.network_store import DbAllocationRepository
from atelier.db.session import Database
from atelier.runtime.network.base import Network
from atelier.runtime.network.select import select_network
from atelier.runtime.storage.base import Storage
from atelier.runtime.storage.select import select_storage
from atelier.runtime.vmm.base import Vmm
from atelier.runtime.vmm.select import make_vmm, select_vmm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """Which driver serves a concern, and why."""

    driver: str
    reason: str


@dataclass
class Runtime:
    """The drivers one manager runs sandboxes with."""

    vmm: Vmm
    storage: Storage
    network: Network | None
    assets: BootAssets
    choices: dict[str, Choice] = field(default_factory=dict)


async def build_runtime(
    config: AtelierConfig, db: Database, *, allowed_host_ports: tuple[int, ...] = ()
) -> Runtime:
    """Select and construct every driver; log the choices and their reasons."""
    vmm_choice = select_vmm(config.vmm)
    vmm = make_vmm(config.vmm, config.paths.run_dir)
    storage = await select_storage(config.storage, config.paths.data_dir)
    if storage.fallback:
        log.warning("storage: %s", storage.reason)
    network, network_reason = select_network(
        config.network,
        DbAllocationRepository(db),
        run_dir=config.paths.run_dir,
        allowed_host_ports=allowed_host_ports,
    )
    choices = {
        "vmm": Choice(vmm_choice.driver, vmm_choice.reason),
        "storage": Choice(storage.driver, storage.reason),
        "network": Choice(network.name if network else "none", network_reason),
    }
    for concern, choice in choices.items():
        log.info("%s driver: %s (%s)", concern, choice.driver, choice.reason)
    return Runtime(vmm, storage.storage, network, BootAssets(config), choices)
