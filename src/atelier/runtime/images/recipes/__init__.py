"""Image recipes: one module per image, each defining `RECIPE` (a `Recipe`).

The module name is the image name with `-` replaced by `_` (`dev-base` lives in
`dev_base.py`); modules starting with `_` are helpers, not recipes. A recipe with a `parent` starts from a copy of the parent's cached tree.
Modules whose name starts with `_` hold parts shared by recipes and are not images.
"""

from __future__ import annotations

import importlib
import pkgutil

from atelier.runtime.images.catalog import check_name
from atelier.runtime.images.errors import RecipeNotFound
from atelier.runtime.images.recipe import Recipe

__all__ = ["available", "load_recipe", "recipe_chain"]


def available() -> list[str]:
    """The image names that have a recipe."""
    modules = pkgutil.iter_modules(__path__)
    # `_name` modules hold parts shared by recipes; they are not images.
    return sorted(info.name.replace("_", "-") for info in modules if info.name[0] != "_")


def load_recipe(name: str) -> Recipe:
    """The recipe of image `name`; RecipeNotFound when there is none."""
    check_name(name)
    module_name = f"{__name__}.{name.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise RecipeNotFound(
            f"no recipe for image {name!r} (available: {', '.join(available())})",
            hint="recipes live in atelier/runtime/images/recipes/<name>.py",
            field="name",
        ) from exc
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe) or recipe.name != name:
        raise RecipeNotFound(f"{module_name} does not define RECIPE = Recipe(name={name!r}, ...)")
    return recipe


def recipe_chain(name: str) -> list[Recipe]:
    """The recipe and its ancestors, root first; RecipeNotFound on a missing or cyclic parent."""
    chain: list[Recipe] = []
    current: str | None = name
    while current is not None:
        if any(recipe.name == current for recipe in chain):
            cycle = " -> ".join([r.name for r in chain] + [current])
            raise RecipeNotFound(f"recipe parents form a cycle: {cycle}", field="parent")
        recipe = load_recipe(current)
        chain.append(recipe)
        current = recipe.parent
    return list(reversed(chain))
