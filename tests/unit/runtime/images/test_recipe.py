"""Recipe hashing, the recipe registry and the shipped `minimal` recipe."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from atelier.errors import ValidationError
from atelier.runtime.images import recipes
from atelier.runtime.images.errors import RecipeNotFound
from atelier.runtime.images.recipe import (
    Recipe,
    Step,
    callable_fingerprint,
    recipe_hash,
    tree_fingerprint,
)
from atelier.runtime.images.steps import AddUser, Call, CopyTree, Run, StepContext, WriteFile

BASE = Recipe(name="base", description="b", packages=("python3",))
CHILD = Recipe(
    name="child",
    description="c",
    parent="base",
    steps=(Step("hello", Run(("echo", "hi"))),),
)


async def _noop(ctx: StepContext) -> None:
    return None


def test_hash_is_stable_and_chains_the_parent() -> None:
    assert recipe_hash([BASE, CHILD]) == recipe_hash([BASE, CHILD])
    changed_base = replace(BASE, packages=("python3", "git"))
    assert recipe_hash([changed_base, CHILD]) != recipe_hash([BASE, CHILD])
    assert recipe_hash([BASE]) != recipe_hash([BASE, CHILD])


@pytest.mark.parametrize(
    "edit",
    [
        {"version": "2"},
        {"steps": (Step("hello", Run(("echo", "bye"))),)},
        {"steps": (Step("renamed", Run(("echo", "hi"))),)},
        {"steps": (Step("hello", Run(("echo", "hi"), network=True)),)},
        {"packages": ("curl",)},
        {"suite": "trixie"},
    ],
)
def test_every_edit_changes_the_hash(edit: dict[str, object]) -> None:
    assert recipe_hash([BASE, replace(CHILD, **edit)]) != recipe_hash([BASE, CHILD])  # type: ignore[arg-type]  # keyword edits


def test_memory_and_notable_packages_do_not_change_the_tree_hash() -> None:
    edited = replace(CHILD, recommended_memory_mb=2048, notable_packages=("git",))
    assert recipe_hash([BASE, edited]) == recipe_hash([BASE, CHILD])


def test_action_fingerprints_differ_by_content(tmp_path: Path) -> None:
    assert WriteFile("/a", "x").fingerprint() != WriteFile("/a", "y").fingerprint()
    assert WriteFile("/a", "x").fingerprint() != WriteFile("/a", "x", 0o600).fingerprint()
    assert AddUser("dev", 1000).fingerprint() != AddUser("dev", 1000, sudo=True).fingerprint()
    overlay = tmp_path / "overlay"
    (overlay / "etc").mkdir(parents=True)
    (overlay / "etc" / "motd").write_text("one")
    before = CopyTree(overlay).fingerprint()
    (overlay / "etc" / "motd").write_text("two")
    assert CopyTree(overlay).fingerprint() != before
    assert tree_fingerprint(overlay) == tree_fingerprint(overlay)
    assert "_noop" in callable_fingerprint(_noop)
    assert Call(_noop).fingerprint() == Call(_noop).fingerprint()


def test_minimal_recipe_is_registered() -> None:
    assert "minimal" in recipes.available()
    recipe = recipes.load_recipe("minimal")
    assert recipe.parent is None
    assert recipe.recommended_memory_mb == 512
    wanted = {"python3", "openssh-server", "iproute2", "git", "ca-certificates", "e2fsprogs"}
    wanted |= {"kmod", "nftables", "iptables", "util-linux", "procps", "sudo"}
    assert wanted <= set(recipe.packages)
    assert recipes.recipe_chain("minimal") == [recipe]
    assert recipe.steps[0].name == "dev user"


def test_unknown_recipe() -> None:
    with pytest.raises(RecipeNotFound, match=r"available: .*minimal"):
        recipes.load_recipe("no-such-image")


def test_bad_recipe_name() -> None:
    with pytest.raises(ValidationError):
        recipes.load_recipe("Bad_Name")
