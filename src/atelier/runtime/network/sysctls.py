"""Kernel settings the bridge driver needs, and the record that lets teardown undo them.

Global settings (IPv4 forwarding, IPv6 forwarding with `ipv6_egress`) outlive the bridge,
so the value found before the first change is kept in a small JSON file in the driver's
state directory and written back by `restore`. Per-bridge settings vanish with the bridge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from atelier.runtime.network import link
from atelier.runtime.network.runner import Runner


class Sysctls:
    """Sets sysctls, remembering the original values of global ones."""

    def __init__(self, runner: Runner, state_file: Path) -> None:
        self._run = runner
        self.state_file = state_file

    def recorded(self) -> dict[str, str]:
        """Global keys changed by setup, with their values from before."""
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    async def apply(self, global_: Mapping[str, str], local: Mapping[str, str]) -> list[str]:
        """Set every key; record the old value of changed global ones."""
        changes = []
        state = self.recorded()
        for key, value in global_.items():
            before = await link.ensure_sysctl(self._run, key, value)
            if before is not None:
                state.setdefault(key, before)
                changes.append(f"set {key}={value} (was {before or 'unset'})")
        for key, value in local.items():
            if await link.sysctl(self._run, key) not in (None, value):
                await link.ensure_sysctl(self._run, key, value)
                changes.append(f"set {key}={value}")
        if state:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps(state, indent=2))
        return changes

    async def restore(self) -> list[str]:
        """Write the recorded values back and forget them."""
        changes = []
        for key, before in self.recorded().items():
            if before and await link.ensure_sysctl(self._run, key, before) is not None:
                changes.append(f"restored {key}={before}")
        self.state_file.unlink(missing_ok=True)
        return changes
