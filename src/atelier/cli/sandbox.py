"""`atelier sandbox …`: create, inspect, control and use sandboxes through the manager's API."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from atelier.cli import dev as dev_commands
from atelier.cli import output
from atelier.cli.client import connect
from atelier.cli.terminal import attach_terminal

GROUP = "sandbox"
app = typer.Typer(help="Create, list, control and use sandboxes.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Sandbox id (see `atelier sandbox list`).")]
COLUMNS = ["id", "name", "status", "image", "owner", "cpu", "mem", "disk", "ip", "created"]


def _row(s: dict[str, Any]) -> list[Any]:
    ip = (s.get("network") or {}).get("ip", "")
    status = s["status"] + (f" #{s['queuePosition']}" if s.get("queuePosition") else "")
    return [
        s["id"], s.get("name") or "", status, s["image"], s["owner"], s["vcpus"],
        f"{s['memoryMb']} MiB", f"{s['diskGb']} GiB", ip, s["createdAt"][:19].replace("T", " "),
    ]  # fmt: skip


def _detail(s: dict[str, Any]) -> Group:
    lines = [Text(f"{s['id']}  {s['status']}", style="bold")]
    for label, value in (
        ("name", s.get("name")),
        ("owner", s["owner"]),
        ("members", ", ".join(s["members"]) or "-"),
        ("image", s["image"]),
        ("resources", f"{s['vcpus']} vCPU, {s['memoryMb']} MiB, {s['diskGb']} GiB"),
        ("address", (s.get("network") or {}).get("ip")),
        ("created", s["createdAt"]),
        ("started", s.get("startedAt")),
    ):
        if value:
            lines.append(Text(f"  {label:<10} {value}"))
    if s.get("error"):
        lines.append(
            Text(f"  error      step {s['error']['step']}: {s['error']['message']}", style="red")
        )
    if s.get("steps"):
        steps = ", ".join(f"{st['step']} {st['ms']:.0f} ms" for st in s["steps"])
        lines.append(Text(f"  steps      {steps}", style="dim"))
    return Group(*lines)


@app.command("create")
def create(
    image: Annotated[str | None, typer.Option(help="Image (default: the host's default).")] = None,
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    vcpus: Annotated[int | None, typer.Option(min=1, help="Virtual CPUs.")] = None,
    memory: Annotated[int | None, typer.Option("--memory", help="Memory in MiB.")] = None,
    disk: Annotated[int | None, typer.Option("--disk", help="Disk in GiB.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until it runs (or fails).")] = True,
    json_output: output.JsonFlag = False,
) -> None:
    """Create a sandbox (waits until it is running unless --no-wait)."""
    output.use_json(json_output)
    body = {"image": image, "name": name, "vcpus": vcpus, "memoryMb": memory, "diskGb": disk}
    with connect(timeout=900) as api:
        if wait and not output.state.json:
            with output.err.status("creating sandbox (booting a VM)…"):
                result = api.request("POST", "/api/sandboxes", json=body, params={"wait": "true"})
        else:
            result = api.request(
                "POST", "/api/sandboxes", json=body, params={"wait": str(wait).lower()}
            )
    output.show(result, _detail(result))
    if result["status"] == "error":
        raise typer.Exit(1)


@app.command("list")
def list_(
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include destroyed sandboxes.")] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Sandboxes you own or are a member of."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get("/api/sandboxes", status=status, includeDestroyed=str(all_).lower())
    output.show(
        found, output.table(None, COLUMNS, [_row(s) for s in found]) if found else "no sandboxes"
    )


@app.command("show")
def show(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Everything about one sandbox."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/sandboxes/{sandbox_id}")
    output.show(found, _detail(found))


def _action(sandbox_id: str, verb: str, json_output: bool) -> None:
    output.use_json(json_output)
    with connect(timeout=900) as api:
        if output.state.json:
            result = api.post(f"/api/sandboxes/{sandbox_id}/{verb}")
        else:
            with output.err.status(f"{verb} {sandbox_id}…"):
                result = api.post(f"/api/sandboxes/{sandbox_id}/{verb}")
    output.show(result, _detail(result))


@app.command("stop")
def stop(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Power a sandbox off (its disk is kept)."""
    _action(sandbox_id, "stop", json_output)


@app.command("start")
def start(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Boot a stopped sandbox again."""
    _action(sandbox_id, "start", json_output)


@app.command("restart")
def restart(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Stop, then start."""
    _action(sandbox_id, "restart", json_output)


@app.command("pause")
def pause(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Save a running sandbox's memory to disk and free its VM."""
    _action(sandbox_id, "pause", json_output)


@app.command("resume")
def resume(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """Resume a paused sandbox where it was."""
    _action(sandbox_id, "resume", json_output)


@app.command("rm")
def remove(
    sandbox_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Destroy a sandbox and its disk."""
    output.use_json(json_output)
    if not yes and not output.state.json and sys.stdin.isatty():
        typer.confirm(f"destroy sandbox {sandbox_id} and its disk?", abort=True)
    with connect(timeout=300) as api:
        api.delete(f"/api/sandboxes/{sandbox_id}")
    output.show({"destroyed": sandbox_id}, f"destroyed {sandbox_id}")


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_(
    sandbox_id: IdArg,
    command: Annotated[list[str], typer.Argument(help="Program and arguments (after --).")],
    user: Annotated[str | None, typer.Option(help="Guest user.")] = None,
    cwd: Annotated[str | None, typer.Option(help="Working directory.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE")] = None,
    timeout: Annotated[float | None, typer.Option(help="Kill it after this many seconds.")] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Run a command in a sandbox; output streams as it is produced."""
    output.use_json(json_output)
    if command[:1] == ["--"]:  # `exec ID -- cmd`: options end at ID, so `--` arrives here
        command = command[1:]
    if not command:
        raise typer.BadParameter(
            "give the program to run after the sandbox id", param_hint="COMMAND"
        )
    environment = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--env")
        environment[key] = value
    body: dict[str, Any] = {"argv": command, "user": user, "cwd": cwd, "env": environment or None}
    body["timeoutS"] = timeout
    with connect(timeout=None) as api:
        if output.state.json:
            result = api.post(f"/api/sandboxes/{sandbox_id}/exec", json=body)
            output.emit_json(result)
            raise typer.Exit(0 if result["exitCode"] == 0 else 1)
        body["stream"] = True
        code = 1
        with api.stream("POST", f"/api/sandboxes/{sandbox_id}/exec", json=body) as response:
            for line in response.iter_lines():
                if not line:
                    continue
                item = json.loads(line)
                if "stream" in item:
                    target = sys.stdout if item["stream"] == "stdout" else sys.stderr
                    target.write(item["data"])
                    target.flush()
                else:
                    code = (
                        item.get("exitCode")
                        if item.get("exitCode") is not None
                        else 128 + (item.get("signal") or 0)
                    )
    raise typer.Exit(code)


@app.command("logs")
def logs(
    sandbox_id: IdArg,
    source: Annotated[str, typer.Option(help="console or agent")] = "console",
    tail: Annotated[int, typer.Option(help="Last N lines.")] = 200,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """The VM console (kernel + init) or the agent log."""
    output.use_json(json_output)
    with connect(timeout=None) as api:
        if not follow:
            found = api.get(f"/api/sandboxes/{sandbox_id}/logs", source=source, tail=tail)
            output.show(found, "\n".join(found["lines"]))
            return
        path = f"/api/sandboxes/{sandbox_id}/logs?source={source}&tail={tail}&follow=true"
        with api.stream("GET", path) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    output.plain(line[5:].removeprefix(" ") + "\n")


@app.command("shell")
def shell(
    sandbox_id: IdArg,
    session: Annotated[str | None, typer.Option(help="Re-attach to a terminal session.")] = None,
) -> None:
    """An interactive terminal in the sandbox (over the manager's WebSocket)."""
    code = attach_terminal(sandbox_id, session)
    raise typer.Exit(code)


app.add_typer(dev_commands.app, name="dev")

members = typer.Typer(help="Who besides the owner may use a sandbox.", no_args_is_help=True)
app.add_typer(members, name="members")


@members.command("list")
def members_list(sandbox_id: IdArg, json_output: output.JsonFlag = False) -> None:
    """The members of a sandbox."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/sandboxes/{sandbox_id}/members")
    output.show(found, "\n".join(found) or "no members")


@members.command("add")
def members_add(sandbox_id: IdArg, username: str, json_output: output.JsonFlag = False) -> None:
    """Let a user see and use the sandbox."""
    output.use_json(json_output)
    with connect() as api:
        found = api.post(f"/api/sandboxes/{sandbox_id}/members", json={"username": username})
    output.show(found, f"members of {sandbox_id}: {', '.join(found['members'])}")


@members.command("rm")
def members_rm(sandbox_id: IdArg, username: str, json_output: output.JsonFlag = False) -> None:
    """Take a member's access away."""
    output.use_json(json_output)
    with connect() as api:
        found = api.delete(f"/api/sandboxes/{sandbox_id}/members/{username}")
    output.show(found, f"members of {sandbox_id}: {', '.join(found['members']) or 'none'}")
