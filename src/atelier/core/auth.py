"""Users, API tokens and password login.

Tokens are `atl_` + 32 random bytes (base64url); only their SHA-256 is stored, so a stolen
database yields no usable credential. Passwords are hashed with argon2id.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from atelier.db import Database
from atelier.db.models import ApiToken, User
from atelier.db.repos import users as repo
from atelier.db.types import utcnow
from atelier.errors import Conflict, NotFound, Unauthorized, ValidationError
from atelier.runtime.host.names import new_id

TOKEN_PREFIX = "atl_"
_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a token or a dashboard session."""

    user_id: str
    username: str
    role: str
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class UserView:
    """A user as shown by the API and CLI."""

    id: str
    username: str
    role: str
    display_name: str | None
    created_at: datetime
    has_password: bool
    github_login: str | None

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            user.id,
            user.username,
            user.role,
            user.display_name,
            user.created_at,
            user.password_hash is not None,
            user.github_login,
        )


@dataclass(frozen=True)
class TokenView:
    """A token's metadata (never its secret)."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, token: ApiToken) -> TokenView:
        return cls(
            token.id,
            token.name,
            token.prefix,
            token.created_at,
            token.last_used_at,
            token.expires_at,
            token.revoked_at is not None,
        )


def hash_token(raw: str) -> str:
    """SHA-256 hex of a token secret."""
    return hashlib.sha256(raw.encode()).hexdigest()


def check_username(username: str) -> str:
    """Validate a username: lowercase letter first, then letters, digits, '_', '.', '-'."""
    if not _USERNAME.match(username):
        raise ValidationError(
            f"username {username!r} is not allowed: use 2-32 characters, a lowercase letter"
            " first, then lowercase letters, digits, '_', '.' or '-'",
            field="username",
        )
    return username


class AuthService:
    """Creates users and tokens and resolves credentials to principals."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_user(
        self,
        username: str,
        *,
        role: str = "member",
        password: str | None = None,
        display_name: str | None = None,
        github_login: str | None = None,
    ) -> UserView:
        """Add a user; Conflict when the username is taken."""
        check_username(username)
        if role not in ("admin", "member"):
            raise ValidationError(
                f"role {role!r} is not allowed: use 'admin' or 'member'", field="role"
            )
        if password is not None and len(password) < 8:
            raise ValidationError("password must have at least 8 characters", field="password")
        async with self._db.session() as session:
            if await repo.by_username(session, username):
                raise Conflict(f"user {username!r} already exists", field="username")
            user = User(
                id=new_id(),
                username=username,
                role=role,
                display_name=display_name,
                github_login=github_login,
                password_hash=_hasher.hash(password) if password else None,
            )
            session.add(user)
        return UserView.of(user)

    async def list_users(self) -> list[UserView]:
        """Every user."""
        async with self._db.session() as session:
            return [UserView.of(u) for u in await repo.list_all(session)]

    async def get_user(self, user_ref: str) -> UserView:
        """A user by id or username."""
        async with self._db.session() as session:
            user = await repo.get(session, user_ref) or await repo.by_username(session, user_ref)
            if user is None:
                raise NotFound(f"no user {user_ref!r}", field="user")
            return UserView.of(user)

    async def set_password(self, user_ref: str, password: str) -> None:
        """Set or replace a user's password."""
        if len(password) < 8:
            raise ValidationError("password must have at least 8 characters", field="password")
        async with self._db.session() as session:
            user = await repo.get(session, user_ref) or await repo.by_username(session, user_ref)
            if user is None:
                raise NotFound(f"no user {user_ref!r}", field="user")
            user.password_hash = _hasher.hash(password)

    async def delete_user(self, user_ref: str) -> None:
        """Remove a user (their tokens go with them)."""
        async with self._db.session() as session:
            user = await repo.get(session, user_ref) or await repo.by_username(session, user_ref)
            if user is None:
                raise NotFound(f"no user {user_ref!r}", field="user")
            await session.delete(user)

    async def user_count(self) -> int:
        """How many users exist (0 means the host is not set up yet)."""
        async with self._db.session() as session:
            return await repo.count(session)

    async def verify_password(self, username: str, password: str) -> Principal:
        """Principal for a username/password pair; Unauthorized otherwise."""
        async with self._db.session() as session:
            user = await repo.by_username(session, username)
            if user is None or user.disabled or user.password_hash is None:
                _hasher.hash(password)  # equalise timing with the failure path below
                raise Unauthorized("wrong username or password")
            try:
                _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                raise Unauthorized("wrong username or password") from None
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            return Principal(user.id, user.username, user.role)

    async def create_token(
        self,
        user_ref: str,
        name: str,
        *,
        expires_in: timedelta | None = None,
        kind: str = "api",
    ) -> tuple[TokenView, str]:
        """A new token; returns its metadata and the secret, shown only this once."""
        if not name or len(name) > 64:
            raise ValidationError("token name must have 1-64 characters", field="name")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._db.session() as session:
            user = await repo.get(session, user_ref) or await repo.by_username(session, user_ref)
            if user is None:
                raise NotFound(f"no user {user_ref!r}", field="user")
            token = ApiToken(
                id=new_id(),
                user_id=user.id,
                name=name,
                token_hash=hash_token(raw),
                prefix=raw[:10],
                kind=kind,
                expires_at=utcnow() + expires_in if expires_in else None,
            )
            session.add(token)
        return TokenView.of(token), raw

    async def list_tokens(self, user_id: str) -> list[TokenView]:
        """A user's API tokens."""
        async with self._db.session() as session:
            return [TokenView.of(t) for t in await repo.tokens_of(session, user_id)]

    async def revoke_token(self, principal: Principal, token_id: str) -> None:
        """Revoke a token of the caller (admins may revoke anyone's)."""
        async with self._db.session() as session:
            token = await session.get(ApiToken, token_id)
            if token is None or (token.user_id != principal.user_id and not principal.is_admin):
                raise NotFound(f"no token {token_id!r}", field="token")
            token.revoked_at = token.revoked_at or utcnow()

    async def authenticate(self, raw: str, kind: str | None = None) -> Principal:
        """Resolve a bearer token (or session token) to its principal."""
        if not raw.startswith(TOKEN_PREFIX):
            raise Unauthorized("malformed token", hint="tokens start with 'atl_'")
        async with self._db.session() as session:
            token = await repo.token_by_hash(session, hash_token(raw))
            now = utcnow()
            if (
                token is None
                or token.revoked_at is not None
                or (token.expires_at is not None and token.expires_at <= now)
                or (kind is not None and token.kind != kind)
                or token.user.disabled
            ):
                raise Unauthorized("invalid, expired or revoked token")
            # Avoid a write per request: last use is kept at minute resolution.
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                await repo.touch_token(session, token, now)
            return Principal(token.user.id, token.user.username, token.user.role, token.id)
