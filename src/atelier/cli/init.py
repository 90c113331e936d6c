"""`atelier init`: show the host-setup plan, then run it with progress."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.prompt import Confirm, Prompt

from atelier.cli import output
from atelier.cli.app import run
from atelier.config import config_path
from atelier.core import init as core_init
from atelier.core.init_steps import STEPS
from atelier.errors import ValidationError

STATE_STYLE = {
    "ok": "[green]ok[/green]",
    "change": "[yellow]change[/yellow]",
    "skipped": "[dim]skipped[/dim]",
}


class _RichPrompter:
    def ask(self, question: str, default: str) -> str:
        return Prompt.ask(question, default=default, console=output.err)

    def confirm(self, question: str, default: bool) -> bool:
        return Confirm.ask(question, default=default, console=output.err)


def register(root: typer.Typer) -> None:
    """Add `init`."""
    root.command("init")(init)


def init(
    root_dir: Annotated[
        Path | None, typer.Option("--root", help="Install into this staging root (tests).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Take defaults, ask nothing.")] = False,
    plan_only: Annotated[bool, typer.Option("--plan", help="Show the plan and stop.")] = False,
    only: Annotated[
        str | None, typer.Option("--only", help="Comma-separated steps to run (default: all).")
    ] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Set this host up: checks, config, kernel and images, storage, network, Caddy, SSH,
    package caches, the first admin and systemd units. Safe to run again."""
    output.use_json(json_output)
    steps = _select(only)
    interactive = not (yes or output.state.json) and sys.stdin.isatty()
    ctx = core_init.context(
        config_path(), root=root_dir.absolute() if root_dir else None,
        prompter=_RichPrompter() if interactive else None,
    )  # fmt: skip
    items = run(core_init.plan(ctx, steps))
    if not output.state.json:
        output.err.print(_plan_table(items, root_dir))
    if plan_only:
        output.show({"plan": [i.to_dict() for i in items]}, "")
        return
    with output.err.status("atelier init") as status:
        report = run(
            core_init.run(
                ctx, steps, on_step=lambda item: status.update(f"init: {item.title}"),
                on_done=lambda r: _done(r),
            )
        )  # fmt: skip
    output.show(report.to_dict(), _summary(report))


def _select(only: str | None) -> tuple[core_init.Step, ...]:
    if not only:
        return STEPS
    wanted = [s.strip() for s in only.split(",") if s.strip()]
    known = {s.name: s for s in STEPS}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ValidationError(
            f"--only: unknown step {', '.join(unknown)}; allowed: {', '.join(known)}",
            field="only",
        )
    return tuple(s for s in STEPS if s.name in wanted)


def _plan_table(items: list[core_init.PlanItem], root: Path | None) -> object:
    title = f"atelier init plan (staging root {root})" if root else "atelier init plan"
    rows = [(i.title, STATE_STYLE[i.state], i.detail) for i in items]
    return output.table(title, ["step", "state", "what"], rows)


def _done(report: core_init.StepReport) -> None:
    if output.state.json:
        return
    for action in report.actions:
        output.info(f"[green]✓[/green] {report.name}: {action}")


def _summary(report: core_init.InitReport) -> str:
    lines = ["changed nothing: everything was in place" if not report.changed else "done"]
    if report.token:
        lines.append(f"admin API token (shown once): {report.token}")
    return "\n".join(lines)
