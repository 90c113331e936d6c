"""Applies the isolation policy with nftables or, where the nft tool is missing, iptables.

Both backends take the same `RulesSpec`/`PortSpec` data, are idempotent (setup re-applies
the host-wide rules only when their digest changed) and remove exactly the tables or
chains they created. Callers serialise calls (the bridge driver holds a lock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from atelier.runtime.host import names
from atelier.runtime.network import iptables as ipt
from atelier.runtime.network import nft
from atelier.runtime.network.errors import NetworkNotReady
from atelier.runtime.network.policy import PortSpec, RulesSpec
from atelier.runtime.network.runner import Runner

_EB_CHAIN_RE = re.compile(r"^Bridge chain: (\S+),", re.MULTILINE)


@dataclass(frozen=True)
class FirewallState:
    """What a backend finds installed."""

    present: tuple[str, ...]  # tables or chains, in words
    current: bool  # the host-wide rules match the spec
    ports: dict[str, str]  # TAP -> its chain


class Firewall(Protocol):
    """One way to install the isolation policy."""

    name: str

    async def apply(self, spec: RulesSpec, ports: list[PortSpec]) -> list[str]:
        """Install or update the host-wide rules (re-adding `ports` when rebuilt)."""
        ...

    async def add_port(self, port: PortSpec) -> None:
        """Pin a TAP (create or replace its chain)."""
        ...

    async def remove_port(self, sandbox_id: str, tap: str) -> None:
        """Unpin a TAP; no error when it is not pinned."""
        ...

    async def remove(self) -> list[str]:
        """Remove everything this backend owns."""
        ...

    async def inspect(self, spec: RulesSpec) -> FirewallState:
        """What is installed, compared with `spec`."""
        ...


class NftFirewall:
    """The `atelier` tables in the inet and bridge families."""

    name = "nftables"

    def __init__(self, runner: Runner) -> None:
        self._run = runner

    async def _apply(self, script: str) -> None:
        await self._run.run("nft", "-f", "-", input=script.encode())

    async def _tables(self) -> set[str]:
        return nft.tables(await self._run.json("nft", "-j", "list", "tables"))

    async def _marker(self, family: str) -> str | None:
        done = await self._run.run("nft", "list", "table", family, nft.TABLE, check=False)
        return nft.marker(done.text) if done.returncode == 0 else None

    async def apply(self, spec: RulesSpec, ports: list[PortSpec]) -> list[str]:
        """Replace each table whose marker differs from the wanted one."""
        changes = []
        if await self._marker("inet") != spec.marker:
            await self._apply(nft.inet_script(spec))
            changes.append(f"installed nftables table inet {nft.TABLE} ({spec.marker})")
        if await self._marker("bridge") != nft.BRIDGE_MARKER:
            script = nft.bridge_script() + "".join(nft.port_script(p) for p in ports)
            await self._apply(script)
            changes.append(f"installed nftables table bridge {nft.TABLE} ({len(ports)} ports)")
        return changes

    async def add_port(self, port: PortSpec) -> None:
        """Create or replace the TAP's chain and map entry."""
        if "bridge" not in await self._tables():
            raise NetworkNotReady(
                f"nftables table bridge {nft.TABLE} is missing",
                hint="run `atelier network setup`",
            )
        await self._apply(nft.port_script(port))

    async def remove_port(self, sandbox_id: str, tap: str) -> None:
        """Remove the TAP's chain and map entry when the table exists."""
        if "bridge" in await self._tables():
            await self._apply(nft.port_remove_script(sandbox_id, tap))

    async def remove(self) -> list[str]:
        """Delete both tables."""
        present = sorted(await self._tables())
        if present:
            await self._apply(nft.delete_script(present))
        return [f"deleted nftables table {family} {nft.TABLE}" for family in present]

    async def inspect(self, spec: RulesSpec) -> FirewallState:
        """Tables present, whether they match, and the mapped ports."""
        present = sorted(await self._tables())
        current = (
            await self._marker("inet") == spec.marker
            and await self._marker("bridge") == nft.BRIDGE_MARKER
        )
        ports: dict[str, str] = {}
        if "bridge" in present:
            listing = await self._run.json("nft", "-j", "list", "map", "bridge", nft.TABLE, "ports")
            ports = nft.mapped_ports(listing)
        return FirewallState(tuple(f"{f} {nft.TABLE}" for f in present), current, ports)


class IptablesFirewall:
    """`ATL-…` chains in iptables/ip6tables and ebtables."""

    name = "iptables"

    def __init__(self, runner: Runner) -> None:
        self._run = runner

    async def _do(self, command: ipt.Command, check: bool = True) -> bool:
        tool, args = command
        done = await self._run.run(tool, *args, check=check)
        return done.returncode == 0

    async def _fresh_chain(self, tool: str, table: str, chain: str) -> None:
        if await self._do(ipt.list_chain(tool, table, chain), check=False):
            await self._do(ipt.flush_chain(tool, table, chain))
        else:
            await self._do(ipt.create_chain(tool, table, chain))

    async def _ensure_jump(self, tool: str, table: str, parent: str, rule: list[str]) -> bool:
        """Make `rule` the first rule of `parent` (an ACCEPT above it would bypass ours)."""
        if tool != "ebtables":
            listing = await self._run.run(tool, *ipt.list_chain(tool, table, parent)[1])
            rules = [line.split()[2:] for line in listing.text.splitlines()
                     if line.startswith(f"-A {parent} ")]  # fmt: skip
            if rules and rules[0] == rule and rules.count(rule) == 1:
                return False
        while await self._do(ipt.delete_rule(tool, table, parent, rule), check=False):
            pass
        await self._do(ipt.insert_first(tool, table, parent, rule))
        return True

    async def _current(self, spec: RulesSpec) -> bool:
        done = await self._run.run(
            *_split(ipt.list_chain("iptables", "filter", ipt.INPUT)), check=False
        )
        return done.returncode == 0 and spec.marker in done.text

    async def _eb_chains(self) -> list[str]:
        done = await self._run.run("ebtables", "-t", "nat", "-L", check=False)
        return _EB_CHAIN_RE.findall(done.text) if done.returncode == 0 else []

    async def apply(self, spec: RulesSpec, ports: list[PortSpec]) -> list[str]:
        """Rebuild the L3 chains when the marker differs; create the L2 chains if missing."""
        changes = []
        if not await self._current(spec):
            for tool, table, chain in ipt.l3_chains(spec):
                await self._fresh_chain(tool, table, chain)
                for rule in ipt.l3_rules(spec, tool, chain):
                    await self._do(ipt.append(tool, table, chain, rule))
            changes.append(f"installed iptables chains ({spec.marker})")
        for tool, table, parent, rule in ipt.jumps(spec):
            if await self._ensure_jump(tool, table, parent, rule) and not changes:
                changes.append(f"moved the jump to {rule[-1]} first in {tool} {table} {parent}")
        if ipt.EB_PORTS not in await self._eb_chains():
            await self._fresh_chain("ebtables", "filter", ipt.EB_FORWARD)
            for rule in ipt.eb_forward_rules():
                await self._do(ipt.append("ebtables", "filter", ipt.EB_FORWARD, rule))
            await self._fresh_chain("ebtables", "nat", ipt.EB_PORTS)
            await self._do(ipt.append("ebtables", "nat", ipt.EB_PORTS, ["-j", "DROP"]))
            for table, _chain, parent, rule in ipt.eb_base():
                await self._ensure_jump("ebtables", table, parent, rule)
            for port in ports:
                await self.add_port(port)
            changes.append(f"installed ebtables chains ({len(ports)} ports)")
        return changes

    async def add_port(self, port: PortSpec) -> None:
        """Create or replace the TAP's chain and put it first in the dispatch chain."""
        if ipt.EB_PORTS not in await self._eb_chains():
            raise NetworkNotReady(
                f"ebtables chain {ipt.EB_PORTS} is missing", hint="run `atelier network setup`"
            )
        await self._fresh_chain("ebtables", "nat", port.chain)
        for rule in ipt.eb_port_rules(port):
            await self._do(ipt.append("ebtables", "nat", port.chain, rule))
        dispatch = ["-i", port.tap, "-j", port.chain]
        await self._ensure_jump("ebtables", "nat", ipt.EB_PORTS, dispatch)

    async def remove_port(self, sandbox_id: str, tap: str) -> None:
        """Drop the dispatch rule and the TAP's chain, if present."""
        chain = names.port_chain(sandbox_id)
        if chain not in await self._eb_chains():
            return
        await self._do(
            ipt.delete_rule("ebtables", "nat", ipt.EB_PORTS, ["-i", tap, "-j", chain]), check=False
        )
        await self._do(ipt.flush_chain("ebtables", "nat", chain))
        await self._do(ipt.delete_chain("ebtables", "nat", chain))

    async def remove(self) -> list[str]:
        """Delete every jump into an owned chain, then the chains."""
        changes = []
        for tool in ("iptables", "ip6tables"):
            for table, parent, chain in (
                ("filter", "INPUT", ipt.INPUT),
                ("filter", "FORWARD", ipt.FORWARD),
                ("nat", "POSTROUTING", ipt.POSTROUTING),
            ):
                if await self._drop_chain(tool, table, parent, chain):
                    changes.append(f"deleted {tool} chain {table} {chain}")
        eb = await self._eb_chains()
        for table, chain, parent, _rule in ipt.eb_base():
            if await self._drop_chain("ebtables", table, parent, chain):
                changes.append(f"deleted ebtables chain {table} {chain}")
        for chain in eb:
            if names.parse_port_chain(chain):
                await self._do(ipt.flush_chain("ebtables", "nat", chain))
                await self._do(ipt.delete_chain("ebtables", "nat", chain))
                changes.append(f"deleted ebtables chain nat {chain}")
        return changes

    async def _drop_chain(self, tool: str, table: str, parent: str, chain: str) -> bool:
        if not await self._do(ipt.list_chain(tool, table, chain), check=False):
            return False
        listing = await self._run.run(tool, *ipt.list_chain(tool, table, parent)[1], check=False)
        for line in listing.text.splitlines():
            words = line.split()
            if tool == "ebtables" and "-j" in words and words[-1] == chain:
                await self._do(ipt.delete_rule(tool, table, parent, words), check=False)
            elif words[:2] == ["-A", parent] and words[-2:] == ["-j", chain]:
                await self._do(ipt.delete_rule(tool, table, parent, words[2:]), check=False)
        await self._do(ipt.flush_chain(tool, table, chain))
        await self._do(ipt.delete_chain(tool, table, chain))
        return True

    async def inspect(self, spec: RulesSpec) -> FirewallState:
        """Owned chains present, whether they match, and the pinned TAPs."""
        present = []
        for tool, table, chain in ipt.l3_chains(spec):
            if await self._do(ipt.list_chain(tool, table, chain), check=False):
                present.append(f"{tool} {table} {chain}")
        eb = await self._eb_chains()
        owned = [c for c in eb if c == ipt.EB_PORTS or names.parse_port_chain(c)]
        present += [f"ebtables nat {c}" for c in owned]
        ports: dict[str, str] = {}
        if ipt.EB_PORTS in eb:
            done = await self._run.run("ebtables", "-t", "nat", "-L", ipt.EB_PORTS, check=False)
            for match in re.finditer(r"-i (\S+) -j (\S+)", done.text):
                ports[match[1]] = match[2]
        current = await self._current(spec) and ipt.EB_PORTS in eb
        return FirewallState(tuple(present), current, ports)


def _split(command: ipt.Command) -> list[str]:
    tool, args = command
    return [tool, *args]
