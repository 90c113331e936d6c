"""The recipe API: what an image is made of, as data that hashes to a cache key.

A `Recipe` names its `parent` (or starts from `mmdebstrap` when it has none), the Debian
packages to add, and ordered `Step`s. Each step is a name plus an action; actions are
frozen dataclasses, so `fingerprint()` covers everything they do and an edited recipe gets
a new hash. `recipe_hash()` chains the parent's hash, so changing `base` rebuilds
`dev-base` and `dev-cloud` too. A recipe may declare `build_args` (opt-in inputs such as a
vendor download URL); the values given for them are part of the hash. See docs/images.md
for a worked example.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from atelier.errors import ValidationError

if TYPE_CHECKING:
    from atelier.runtime.images.steps import StepContext

BUILDER_LAYOUT = "atelier-image-1"


class Action(Protocol):
    """Something a step does to the root filesystem tree."""

    def fingerprint(self) -> str:
        """A stable text covering every input of the action (used in the recipe hash)."""
        ...

    async def apply(self, ctx: StepContext) -> None:
        """Change the tree at `ctx.root`; raise ImageBuildError or CommandError on failure."""
        ...


@dataclass(frozen=True)
class Step:
    """One named customisation step."""

    name: str
    action: Action

    def fingerprint(self) -> str:
        """The step's contribution to the recipe hash."""
        return f"{self.name}\0{self.action.fingerprint()}"


@dataclass(frozen=True)
class BuildArg:
    """An optional input of a recipe, given with `atelier images build --arg NAME=VALUE` or
    `images.build_args` in the config. Steps read it from `StepContext.args`."""

    name: str
    description: str


@dataclass(frozen=True)
class Recipe:
    """How to build one image.

    `packages` go to `mmdebstrap --include` for a root recipe and to `apt-get install` (in a
    chroot, before the steps) for a child. `notable_packages` are reported with their
    versions in the manifest. The ext4 image gets `headroom_mb` of free space.
    """

    name: str
    description: str
    version: str = "1"
    parent: str | None = None
    packages: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    notable_packages: tuple[str, ...] = ()
    recommended_memory_mb: int = 512
    headroom_mb: int = 512
    suite: str = "bookworm"
    variant: str = "minbase"
    build_args: tuple[BuildArg, ...] = ()

    def fingerprint(self) -> str:
        """Everything about this recipe that changes the built tree (not the parent)."""
        parts = [
            BUILDER_LAYOUT,
            self.name,
            self.version,
            self.parent or "",
            self.suite,
            self.variant,
            " ".join(self.packages),
            *(step.fingerprint() for step in self.steps),
        ]
        return "\0".join(parts)


def recipe_hash(chain: Sequence[Recipe], args: Mapping[str, str] | None = None) -> str:
    """The hash of the last recipe in `chain` (root first), covering all its ancestors.

    The values in `args` of the build arguments each recipe declares are hashed with it;
    arguments left empty add nothing, so a recipe built without them keeps its plain hash.
    """
    digest = ""
    for recipe in chain:
        text = recipe.fingerprint()
        for arg in recipe.build_args:
            if value := (args or {}).get(arg.name, ""):
                text += f"\0arg:{arg.name}={value}"
        digest = hashlib.sha256(f"{digest}\0{text}".encode()).hexdigest()
    return digest


def build_arg_values(
    chain: Sequence[Recipe], configured: Mapping[str, str], given: Mapping[str, str]
) -> dict[str, str]:
    """The non-empty values of the build arguments `chain` declares.

    `configured` (the `images.build_args` config, shared by every image) may name arguments
    of other recipes; those are ignored. `given` (the command line) overrides it and must
    name declared arguments only: ValidationError otherwise.
    """
    declared = {arg.name for recipe in chain for arg in recipe.build_args}
    unknown = sorted(set(given) - declared)
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise ValidationError(
            f"build argument {unknown[0]!r} is not declared by image {chain[-1].name!r} or"
            f" its parents (allowed: {allowed})",
            field="args",
            hint="docs/images.md lists each image's build arguments",
        )
    merged = {**configured, **given}
    return {name: merged[name] for name in sorted(declared) if merged.get(name)}


def build_arg_notes(chain: Sequence[Recipe], values: Mapping[str, str]) -> dict[str, str]:
    """Manifest notes saying, for each declared build argument, what was given or left out."""
    notes = {}
    for recipe in chain:
        for arg in recipe.build_args:
            given = values.get(arg.name)
            notes[f"build_arg.{arg.name}"] = (
                f"given: {given}" if given else f"not given, so left out: {arg.description}"
            )
    return notes


def callable_fingerprint(func: Callable[..., Awaitable[None]]) -> str:
    """A function's module, name and source text, for `Call` steps."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        source = repr(func)
    return f"{func.__module__}.{func.__qualname__}\0{source}"


def tree_fingerprint(source: Path) -> str:
    """Paths, modes and contents of every file under `source`, for overlay copies."""
    h = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source).as_posix()
        info = path.lstat()
        h.update(f"{rel}\0{info.st_mode:o}\0".encode())
        if path.is_symlink():
            h.update(str(path.readlink()).encode())
        elif path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()
