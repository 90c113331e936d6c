"""`atelier user …` and `atelier token …`: accounts and API tokens, on the host's database."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from atelier.cli import output
from atelier.cli.app import run
from atelier.config import load_config
from atelier.core.auth import Principal
from atelier.core.host_admin import local_auth

users = typer.Typer(help="User accounts (run on the host).", no_args_is_help=True)
tokens = typer.Typer(help="API tokens (run on the host).", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add the `user` and `token` groups."""
    root.add_typer(users, name="user")
    root.add_typer(tokens, name="token")


@users.command("create")
def user_create(
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="Give the admin role.")] = False,
    password: Annotated[
        bool, typer.Option("--password", help="Prompt for a dashboard password.")
    ] = False,
    display_name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Create a user (the first admin is made this way)."""
    output.use_json(json_output)
    secret = (
        typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    )

    async def go() -> dict[str, object]:
        async with local_auth(load_config()) as auth:
            view = await auth.create_user(
                username,
                role="admin" if admin else "member",
                password=secret,
                display_name=display_name,
            )
            return view.__dict__

    data = run(go())
    output.show(data, f"created {data['role']} {data['username']} ({data['id']})")


@users.command("list")
def user_list(json_output: output.JsonFlag = False) -> None:
    """Every user."""
    output.use_json(json_output)

    async def go() -> list[dict[str, object]]:
        async with local_auth(load_config()) as auth:
            return [u.__dict__ for u in await auth.list_users()]

    found = run(go())
    rows = [
        (u["id"], u["username"], u["role"], "yes" if u["has_password"] else "no") for u in found
    ]
    output.show(found, output.table(None, ["id", "username", "role", "password"], rows))


@users.command("rm")
def user_rm(username: str, json_output: output.JsonFlag = False) -> None:
    """Delete a user and their tokens."""
    output.use_json(json_output)

    async def go() -> None:
        async with local_auth(load_config()) as auth:
            await auth.delete_user(username)

    run(go())
    output.show({"deleted": username}, f"deleted {username}")


@users.command("passwd")
def user_passwd(username: str) -> None:
    """Set a user's dashboard password."""
    secret = typer.prompt("new password", hide_input=True, confirmation_prompt=True)

    async def go() -> None:
        async with local_auth(load_config()) as auth:
            await auth.set_password(username, secret)

    run(go())
    output.info(f"password of {username} updated")


@tokens.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Owner of the token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expire after N days.")] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Create an API token; the secret is printed once."""
    output.use_json(json_output)

    async def go() -> dict[str, object]:
        async with local_auth(load_config()) as auth:
            expires = timedelta(days=expires_in_days) if expires_in_days else None
            view, raw = await auth.create_token(user, name, expires_in=expires)
            return {**view.__dict__, "token": raw}

    data = run(go())
    output.show(data, f"{data['token']}\n(token {data['id']} for {user}; shown only once)")


@tokens.command("list")
def token_list(
    user: Annotated[str, typer.Option("--user", help="Whose tokens.")],
    json_output: output.JsonFlag = False,
) -> None:
    """A user's tokens (never their secrets)."""
    output.use_json(json_output)

    async def go() -> list[dict[str, object]]:
        async with local_auth(load_config()) as auth:
            owner = await auth.get_user(user)
            return [t.__dict__ for t in await auth.list_tokens(owner.id)]

    found = run(go())
    rows = [
        (
            t["id"],
            t["name"],
            f"{t['prefix']}…",
            t["created_at"],
            t["expires_at"] or "-",
            "yes" if t["revoked"] else "no",
        )
        for t in found
    ]
    output.show(
        found, output.table(None, ["id", "name", "prefix", "created", "expires", "revoked"], rows)
    )


@tokens.command("revoke")
def token_revoke(token_id: str, json_output: output.JsonFlag = False) -> None:
    """Revoke a token at once."""
    output.use_json(json_output)

    async def go() -> None:
        async with local_auth(load_config()) as auth:
            await auth.revoke_token(Principal("host", "host", "admin"), token_id)

    run(go())
    output.show({"revoked": token_id}, f"revoked {token_id}")
