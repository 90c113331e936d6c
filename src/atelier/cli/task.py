"""`atelier task …`: AI tasks run by OpenCode in sandboxes, tracked by the manager."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from atelier.cli import output
from atelier.cli.client import connect

GROUP = "task"
app = typer.Typer(help="Create, follow and finish AI tasks.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Task id (see `atelier task list`).")]
SandboxOpt = Annotated[
    str, typer.Option("--sandbox", help="What happens to the sandbox: keep, stop or destroy.")
]
COLUMNS = ["id", "status", "title", "workspace", "branch", "todos", "changes", "created"]


def _todos(task: dict[str, Any]) -> str:
    todos = (task.get("progress") or {}).get("todos") or {}
    return f"{todos.get('done', 0)}/{todos.get('total')}" if todos.get("total") else ""


def _changes(task: dict[str, Any]) -> str:
    diff = (task.get("progress") or {}).get("diff") or {}
    files = diff.get("files") or []
    return f"{len(files)} files +{diff.get('added', 0)} -{diff.get('removed', 0)}" if files else ""


def _status(task: dict[str, Any]) -> str:
    status = str(task["status"])
    if task.get("queuePosition"):
        status += f" #{task['queuePosition']}"
    if (task.get("progress") or {}).get("attention"):
        status += " !"
    return status


def _row(t: dict[str, Any]) -> list[Any]:
    return [
        t["id"], _status(t), t["title"][:40], t.get("workspaceId") or "", t.get("branch") or "",
        _todos(t), _changes(t), t["createdAt"][:16].replace("T", " "),
    ]  # fmt: skip


def _detail(t: dict[str, Any]) -> Group:
    progress = t.get("progress") or {}
    current = (progress.get("todos") or {}).get("current")
    lines = [Text(f"{t['id']}  {_status(t)}  {t['title']}", style="bold")]
    for label, value in (
        ("workspace", t.get("workspaceId")),
        ("template", f"{t['templateId']} ({t.get('effort') or 'default effort'})"),
        ("sandbox", t.get("sandboxId")),
        ("branch", t.get("branch")),
        ("directory", t.get("directory")),
        ("todos", _todos(t) + (f" — now: {current}" if current else "")),
        ("working", "yes" if progress.get("busy") else ("no" if progress else "")),
        ("changes", _changes(t)),
        ("created", t["createdAt"]),
        ("started", t.get("startedAt")),
    ):
        if value:
            lines.append(Text(f"  {label:<10} {value}"))
    if t.get("error"):
        lines.append(Text(f"  error      {t['error']}", style="red"))
    for f in ((progress.get("diff") or {}).get("files") or [])[:20]:
        lines.append(Text(f"    {f['path']}  +{f['added']} -{f['removed']}", style="dim"))
    for s in t.get("sessions") or []:
        state = "started" if s.get("promptedAt") else f"waiting ({s['launch']})"
        lines.append(Text(f"  session    {s['role']} {s['templateId']}: {state}", style="dim"))
    return Group(*lines)


def _prompt(prompt: str | None, prompt_file: Path | None) -> str:
    if prompt_file is not None:
        return sys.stdin.read() if str(prompt_file) == "-" else prompt_file.read_text()
    if prompt is None:
        raise typer.BadParameter("give --prompt or --prompt-file", param_hint="--prompt")
    return prompt


@app.command("create")
def create(
    title: Annotated[str, typer.Argument(help="A short title.")],
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="What to do.")] = None,
    prompt_file: Annotated[
        Path | None, typer.Option("--prompt-file", help="Read the prompt from a file (- = stdin).")
    ] = None,
    workspace: Annotated[str | None, typer.Option(help="Workspace id.")] = None,
    template: Annotated[str, typer.Option(help="Primary session template.")] = "implement",
    effort: Annotated[str | None, typer.Option(help="The template's effort level.")] = None,
    model: Annotated[str | None, typer.Option(help="provider/model override.")] = None,
    repo: Annotated[list[str] | None, typer.Option(help="Target repository (repeat).")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Branch to start from.")] = None,
    review: Annotated[
        list[str] | None, typer.Option(help="A review template to run after the main session.")
    ] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Keep it a draft (do not start).")] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Create a task and start it (unless --draft)."""
    output.use_json(json_output)
    body = {
        "title": title, "prompt": _prompt(prompt, prompt_file), "workspaceId": workspace,
        "templateId": template, "effort": effort, "model": model, "repos": repo or None,
        "baseBranch": base, "reviews": [{"templateId": r} for r in review or []],
        "start": not draft,
    }  # fmt: skip
    with connect() as api:
        result = api.post("/api/tasks", json=body)
    output.show(result, _detail(result))


@app.command("list")
def list_(
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses.")] = None,
    workspace: Annotated[str | None, typer.Option(help="Only this workspace.")] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Your tasks, newest first."""
    output.use_json(json_output)
    with connect() as api:
        params = {"status": status, "workspaceId": workspace}
        found = api.get("/api/tasks", **{k: v for k, v in params.items() if v})
    output.show(
        found, output.table(None, COLUMNS, [_row(t) for t in found]) if found else "no tasks"
    )


@app.command("show")
def show(task_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Everything about one task: progress, todos, changed files, sessions."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/tasks/{task_id}")
    output.show(found, _detail(found))


def _act(task_id: str, verb: str, body: dict[str, Any] | None, json_output: bool) -> None:
    output.use_json(json_output)
    with connect() as api:
        result = api.post(f"/api/tasks/{task_id}/{verb}", json=body)
    output.show(result, _detail(result))


@app.command("start")
def start(task_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Queue a draft (or a failed task again)."""
    _act(task_id, "start", None, json_output)


@app.command("cancel")
def cancel(
    task_id: IdArg, sandbox: SandboxOpt = "keep", json_output: output.JsonFlag = False
) -> None:
    """Cancel a task (its sessions are aborted)."""
    _act(task_id, "cancel", {"sandbox": sandbox}, json_output)


@app.command("done")
def done(
    task_id: IdArg,
    push: Annotated[bool, typer.Option(help="Push the task branch.")] = False,
    sandbox: SandboxOpt = "keep",
    json_output: output.JsonFlag = False,
) -> None:
    """Mark a reviewed task done."""
    _act(task_id, "done", {"push": push, "sandbox": sandbox}, json_output)


@app.command("reset")
def reset(task_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Back to draft."""
    _act(task_id, "reset", None, json_output)


@app.command("review")
def review(
    task_id: IdArg,
    template: Annotated[str, typer.Argument(help="A secondary template, e.g. security-review.")],
    now: Annotated[
        bool, typer.Option(help="Run in parallel instead of after the main session.")
    ] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Run a review session on the task's sandbox."""
    body = {"templateId": template, "launch": "now" if now else "after_main"}
    output.use_json(json_output)
    with connect() as api:
        result = api.post(f"/api/tasks/{task_id}/sessions", json=body)
    output.show(result, _detail(result))


@app.command("rm")
def remove(task_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Delete a task that is not active (its sandbox is left alone)."""
    output.use_json(json_output)
    with connect() as api:
        api.delete(f"/api/tasks/{task_id}")
    output.show({"deleted": task_id}, f"deleted {task_id}")
