"""`atelier workspace …`: define projects once, prebuild them, and spawn sandboxes from them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Group
from rich.text import Text

from atelier.cli import _workspace_file as wsfile
from atelier.cli import output
from atelier.cli.client import ApiClient, connect
from atelier.errors import NotFound, ValidationError

GROUP = "workspace"
app = typer.Typer(help="Workspaces: repos, setup, dev commands, secrets, prebuilds.",
                  no_args_is_help=True)  # fmt: skip
secret_app = typer.Typer(help="Write-only workspace secrets.", no_args_is_help=True)
app.add_typer(secret_app, name="secret")

RefArg = Annotated[str, typer.Argument(help="Workspace id or name.")]
COLUMNS = ["id", "name", "image", "repos", "prebuild", "sandboxes", "updated"]


def _row(w: dict[str, Any]) -> list[Any]:
    repos = len(w["definition"].get("repos") or [])
    return [w["id"], w["name"], w["definition"].get("image") or "(default)", repos,
            w["prebuild"]["status"], w["sandboxes"], w["updatedAt"][:19].replace("T", " ")]  # fmt: skip


def _detail(w: dict[str, Any]) -> Group:
    pre = w["prebuild"]
    lines = [Text(f"{w['id']}  {w['name']}  (owner {w['owner']})", style="bold")]
    state = pre["status"] + (" (memory snapshot)" if pre["memorySnapshot"] else "")
    lines.append(Text(f"  prebuild   {state}" + (f": {pre['message']}" if pre["message"] else "")))
    for path, commit in pre["commits"].items():
        lines.append(Text(f"             {path} @ {commit[:12]}", style="dim"))
    for secret in w["secrets"]:
        where = f" -> {secret['path']}" if secret.get("path") else ""
        lines.append(Text(f"  secret     {secret['name']} ({secret['kind']}{where}):"
                          f" {'set' if secret['set'] else 'NOT SET'}"))  # fmt: skip
    lines.append(Text("  definition:"))
    lines.append(Text(wsfile.render(w["definition"]).rstrip(), style="cyan"))
    return Group(*lines)


@app.command("list")
def list_(json_output: output.JsonFlag = False) -> None:
    """Your workspaces."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get("/api/workspaces")
    output.show(
        found, output.table(None, COLUMNS, [_row(w) for w in found]) if found else "no workspaces"
    )


@app.command("show")
def show(ref: RefArg, json_output: output.JsonFlag = False) -> None:
    """A workspace's definition, secrets (names only) and prebuild."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/workspaces/{ref}")
    output.show(found, _detail(found))


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Workspace name.")],
    image: Annotated[str | None, typer.Option(help="Base image.")] = None,
    repo: Annotated[list[str] | None, typer.Option(help="Git URL[#branch]; repeat.")] = None,
    init: Annotated[list[str] | None, typer.Option(help="Init command; repeat.")] = None,
    dev: Annotated[list[str] | None, typer.Option(help="NAME=COMMAND[@PORT]; repeat.")] = None,
    port: Annotated[list[int] | None, typer.Option(help="Exposed guest port; repeat.")] = None,
    vcpus: Annotated[int | None, typer.Option(help="Virtual CPUs.")] = None,
    memory: Annotated[int | None, typer.Option(help="Memory in MiB.")] = None,
    disk: Annotated[int | None, typer.Option(help="Disk in GiB.")] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Create a workspace from options (use `apply -f` for everything a file can hold)."""
    output.use_json(json_output)
    definition: dict[str, Any] = {"name": name}
    if image:
        definition["image"] = image
    resources = {k: v for k, v in (("vcpus", vcpus), ("memoryMb", memory), ("diskGb", disk)) if v}
    if resources:
        definition["resources"] = resources
    if repo:
        definition["repos"] = [_repo(r) for r in repo]
    if init:
        definition["init"] = list(init)
    if dev:
        definition["dev"] = [_dev(d) for d in dev]
    if port:
        definition["ports"] = list(port)
    with connect() as api:
        found = api.post("/api/workspaces", json=definition)
    output.show(found, _detail(found))


def _repo(value: str) -> dict[str, Any]:
    url, _, branch = value.partition("#")
    return {"url": url, **({"branch": branch} if branch else {})}


def _dev(value: str) -> dict[str, Any]:
    name, sep, rest = value.partition("=")
    if not sep:
        raise typer.BadParameter(f"{value!r} is not NAME=COMMAND[@PORT]", param_hint="--dev")
    command, at, port = rest.rpartition("@")
    if at and port.isdigit():
        return {"name": name, "command": command, "port": int(port), "autostart": True}
    return {"name": name, "command": rest, "autostart": True}


@app.command("apply")
def apply(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="atelier.yaml (or JSON); - for stdin.")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only validate.")] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Create the workspace a file describes, or update the one with its name."""
    output.use_json(json_output)
    data = wsfile.load(file)
    definition, values = wsfile.split_secrets(data, file.parent if str(file) != "-" else Path.cwd())
    body = {"definition": definition, "secretValues": values}
    with connect() as api:
        if dry_run:
            result = api.post("/api/workspaces/validate", json=body)
            _show_problems(result)
            return
        name = str(definition.get("name", ""))
        try:
            api.get(f"/api/workspaces/{name}")
            found = api.put(f"/api/workspaces/{name}", json=body)
        except NotFound:
            found = api.post("/api/workspaces", json=body)
    output.show(found, _detail(found))


def _show_problems(result: dict[str, Any]) -> None:
    lines = [f"{p['field'] or '(definition)'}: {p['message']}" for p in result["problems"]]
    output.show(result, "\n".join(lines) if lines else "the definition is valid")
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("edit")
def edit(ref: RefArg, json_output: output.JsonFlag = False) -> None:
    """Edit the definition in $EDITOR (YAML); saved when it validates."""
    output.use_json(json_output)
    with connect() as api:
        current = api.get(f"/api/workspaces/{ref}")
        text = wsfile.render(current["definition"])
        while True:
            edited = click.edit(text, extension=".yaml")
            if edited is None or edited == text:
                output.info("no changes")
                return
            try:
                found = api.put(
                    f"/api/workspaces/{current['id']}", json={"definition": wsfile.parse(edited)}
                )
                break
            except ValidationError as exc:
                output.fail(exc)
                if output.state.json or not typer.confirm("edit again?", default=True):
                    raise typer.Exit(1) from None
                text = edited
    output.show(found, _detail(found))


@app.command("rm")
def remove(
    ref: RefArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Delete a workspace and its prebuilds (it must have no live sandboxes)."""
    output.use_json(json_output)
    if not yes and not output.state.json and sys.stdin.isatty():
        typer.confirm(f"delete workspace {ref} and its prebuilds?", abort=True)
    with connect() as api:
        api.delete(f"/api/workspaces/{ref}")
    output.show({"deleted": ref}, f"deleted {ref}")


@app.command("import-devcontainer")
def import_devcontainer(
    path: Annotated[Path, typer.Argument(help="devcontainer.json")] = Path(
        ".devcontainer/devcontainer.json"
    ),
    name: Annotated[str | None, typer.Option(help="Workspace name.")] = None,
    save: Annotated[bool, typer.Option("--apply", help="Create the workspace too.")] = False,
    json_output: output.JsonFlag = False,
) -> None:
    """Map a devcontainer.json onto a workspace definition; names what could not be mapped."""
    output.use_json(json_output)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}", field="path") from exc
    with connect() as api:
        result = api.post("/api/workspaces/import/devcontainer", json={"text": text, "name": name})
        if save:
            result["workspace"] = api.post("/api/workspaces", json=result["definition"])
    lines = [Text(wsfile.render(result["definition"]).rstrip(), style="cyan")]
    if result["unmapped"]:
        lines.append(Text("not mapped: " + ", ".join(result["unmapped"]), style="yellow"))
    lines += [Text(f"note: {n}", style="dim") for n in result["notes"]]
    lines += [
        Text(f"problem: {p['field']}: {p['message']}", style="red") for p in result["problems"]
    ]
    output.show(result, Group(*lines))


@app.command("prebuild")
def prebuild(
    ref: RefArg,
    wait: Annotated[bool, typer.Option(help="Follow the build until it ends.")] = True,
    json_output: output.JsonFlag = False,
) -> None:
    """Build the workspace's prebuild now (live log unless --no-wait)."""
    output.use_json(json_output)
    with connect(timeout=None) as api:
        started = api.post(f"/api/workspaces/{ref}/prebuild")
        if wait and not output.state.json:
            _follow(api, ref, started["id"])
        elif wait:
            api.request("POST", f"/api/workspaces/{ref}/prebuild", params={"wait": "true"})
        found = api.get(f"/api/workspaces/{ref}/prebuilds/{started['id']}")
    output.show(found, _prebuild_text(found))
    if found["status"] == "failed":
        raise typer.Exit(1)


def _follow(api: ApiClient, ref: str, prebuild_id: str) -> None:
    with api.stream(
        "GET", f"/api/workspaces/{ref}/prebuilds/{prebuild_id}/logs?follow=true"
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                piece = json.loads(line[5:])
                if "text" in piece:
                    output.plain(piece["text"])


def _prebuild_text(p: dict[str, Any]) -> Group:
    lines = [Text(f"prebuild {p['id']}: {p['status']}" + (f" ({p['error']})" if p["error"] else ""),
                  style="bold")]  # fmt: skip
    for step in p["steps"]:
        took = f" {step['durationS']:.1f} s" if step.get("durationS") is not None else ""
        lines.append(Text(f"  {step['status']:<8} {step['name']}{took}"))
    return Group(*lines)


@app.command("prebuilds")
def prebuilds(ref: RefArg, json_output: output.JsonFlag = False) -> None:
    """Prebuild attempts, newest first."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/workspaces/{ref}/prebuilds")
    rows = [[p["id"], p["status"], p["trigger"], "yes" if p["memorySnapshot"] else "no",
             (p["finishedAt"] or "")[:19].replace("T", " "), p["error"] or ""] for p in found]  # fmt: skip
    columns = ["id", "status", "trigger", "memory", "finished", "error"]
    output.show(found, output.table(None, columns, rows) if rows else "no prebuilds")


@app.command("logs")
def logs(
    ref: RefArg,
    prebuild_id: Annotated[str, typer.Option("--prebuild", help="Prebuild id.")] = "latest",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
) -> None:
    """A prebuild's log."""
    with connect(timeout=None) as api:
        if follow:
            _follow(api, ref, prebuild_id)
            return
        found = api.get(f"/api/workspaces/{ref}/prebuilds/{prebuild_id}/logs")
    output.plain(found["text"])


@app.command("check")
def check(
    ref: RefArg,
    rebuild: Annotated[bool, typer.Option(help="Rebuild when stale.")] = True,
    json_output: output.JsonFlag = False,
) -> None:
    """Is the prebuild current? (branches moved, definition changed)"""
    output.use_json(json_output)
    with connect(timeout=300) as api:
        found = api.request("POST", f"/api/workspaces/{ref}/prebuild/check",
                            params={"rebuild": str(rebuild).lower()})  # fmt: skip
    if found is None:
        output.show(None, "no ready prebuild to check")
        return
    text = "stale: " + "; ".join(found["reasons"]) if found["stale"] else "up to date"
    output.show(found, text + (" (rebuilding)" if found["rebuilding"] else ""))


@app.command("cancel")
def cancel(ref: RefArg, json_output: output.JsonFlag = False) -> None:
    """Cancel the running or queued prebuild."""
    output.use_json(json_output)
    with connect() as api:
        found = api.post(f"/api/workspaces/{ref}/prebuild/cancel")
    output.show(found, "cancelled" if found else "nothing to cancel")


@app.command("spawn")
def spawn(
    ref: RefArg,
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until it runs.")] = True,
    json_output: output.JsonFlag = False,
) -> None:
    """Create a sandbox of the workspace (from its prebuild when there is one)."""
    output.use_json(json_output)
    with connect(timeout=900) as api:
        body = {"workspaceId": api.get(f"/api/workspaces/{ref}")["id"], "name": name}
        found = api.request("POST", "/api/sandboxes", json=body, params={"wait": str(wait).lower()})
    output.show(found, f"sandbox {found['id']}: {found['status']}")
    if found["status"] == "error":
        raise typer.Exit(1)


@secret_app.command("set")
def secret_set(
    ref: RefArg,
    name: Annotated[str, typer.Argument(help="Secret name (declared in the definition).")],
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Read the value here.")
    ] = None,
) -> None:
    """Set a secret's value (from --from-file, else stdin, else a hidden prompt)."""
    if from_file is not None:
        value = from_file.read_text()
    elif not sys.stdin.isatty():
        value = sys.stdin.read()
    else:
        value = typer.prompt(f"value of {name}", hide_input=True)
    with connect() as api:
        api.put(f"/api/workspaces/{ref}/secrets/{name}", json={"value": value})
    output.show({"set": name}, f"secret {name} set")


@secret_app.command("rm")
def secret_rm(ref: RefArg, name: str, json_output: output.JsonFlag = False) -> None:
    """Remove a secret's value."""
    output.use_json(json_output)
    with connect() as api:
        api.delete(f"/api/workspaces/{ref}/secrets/{name}")
    output.show({"removed": name}, f"secret {name} removed")


@secret_app.command("list")
def secret_list(ref: RefArg, json_output: output.JsonFlag = False) -> None:
    """Declared secrets and whether each is set (never their values)."""
    output.use_json(json_output)
    with connect() as api:
        found = api.get(f"/api/workspaces/{ref}/secrets")
    rows = [[s["name"], s["kind"], s.get("path") or "", "yes" if s["set"] else "no"] for s in found]
    output.show(
        found, output.table(None, ["name", "kind", "path", "set"], rows) if rows else "none"
    )
