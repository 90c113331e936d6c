"""`atelier network setup|status|teardown`: the host side of sandbox networking."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table

from atelier.cli import output
from atelier.config import load_config
from atelier.core.network import NetworkOverview, NetworkReport, NetworkService, NetworkStatus

GROUP = "network"
app = typer.Typer(
    help="Sandbox networking: the bridge, isolation rules and guest resolver.",
    no_args_is_help=True,
)

ForceOpt = Annotated[
    bool, typer.Option("--force", help="Tear down even while sandbox TAPs are attached.")
]


@app.command("setup")
def setup(json_output: output.JsonFlag = False) -> None:
    """Create or repair the bridge, NAT and isolation rules and the resolver (idempotent)."""
    output.use_json(json_output)
    report = asyncio.run(NetworkService(load_config()).setup())
    output.show(report.as_json(), report_view(report, "nothing to do: the network is in place"))


@app.command("status")
def status(json_output: output.JsonFlag = False) -> None:
    """Show the driver (and why), the bridge, rules, resolver, TAPs and allocations."""
    output.use_json(json_output)
    overview = asyncio.run(NetworkService(load_config()).status())
    output.show(overview.as_json(), status_view(overview))


@app.command("teardown")
def teardown(force: ForceOpt = False, json_output: output.JsonFlag = False) -> None:
    """Remove exactly what setup created: TAPs, bridge, rules, dnsmasq; restore sysctls."""
    output.use_json(json_output)
    report = asyncio.run(NetworkService(load_config()).teardown(force=force))
    output.show(report.as_json(), report_view(report, "nothing to remove"))


def report_view(report: NetworkReport, idle: str) -> Group:
    """The changes as bullet lines, then the driver and why."""
    lines = [f"• {change}" for change in report.changes] or [idle]
    return Group(*lines, f"driver: {report.driver or 'none'} ({report.reason})")


def _summary(overview: NetworkOverview, status: NetworkStatus) -> Table:
    rows = [("driver", status.driver), ("why", overview.reason)]
    if status.bridge:
        state = "up" if status.bridge_up else ("down" if status.bridge_exists else "missing")
        rows += [
            ("bridge", f"{status.bridge} ({state})"),
            ("addresses", ", ".join(status.addresses) or "-"),
            ("forwarding", "on" if status.forwarding else "off"),
            ("firewall", status.firewall or "-"),
            ("rules", ", ".join(status.rules) or "none"),
        ]
    rows.append(("dns", status.dns or "-"))
    table = Table(title="network", show_header=False, show_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


def status_view(overview: NetworkOverview) -> RenderableType:
    """Summary, TAPs, allocations, then problems and notes."""
    status = overview.status
    if status is None:
        return f"networking is disabled ({overview.reason})"
    parts: list[RenderableType] = [_summary(overview, status)]
    if status.ports:
        yes = {True: "yes", False: "NO"}
        parts.append(output.table(
            "TAPs", ("tap", "sandbox", "up", "on bridge", "isolated", "pinned"),
            [(p.name, p.sandbox_id, yes[p.up], yes[p.on_bridge], yes[p.isolated], yes[p.pinned])
             for p in status.ports],
        ))  # fmt: skip
    if status.allocations:
        parts.append(output.table(
            "allocations", ("sandbox", "ip", "mac", "tap", "ip6", "forwards"),
            [(a.sandbox_id, f"{a.ip}/{a.prefix}", a.mac, a.tap or "-", a.ip6 or "-",
              ", ".join(f"{f.host_port}->{f.guest_port}" for f in a.forwards) or "-")
             for a in status.allocations],
        ))  # fmt: skip
    parts += [f"[red]problem:[/red] {p}" for p in status.problems]
    parts += [f"[dim]note:[/dim] {n}" for n in status.notes]
    if not status.problems:
        parts.append("[green]healthy[/green]")
    return Group(*parts)
