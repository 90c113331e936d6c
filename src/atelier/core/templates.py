"""Session templates: what an OpenCode session of a task runs, and with which prompt.

A template has an id, a name, a category (`primary`: starts a task; `secondary`: a review
run on a task's sandbox), a prompt with `{variables}` and *efforts*: named presets mapping
to a model, a model variant (reasoning effort) and an agent. The four built-ins are
Implementation, Best Practices Review, Security Review and Simplification. Global templates
(stored) override built-ins and workspace overrides override both, merged by id (an
override's fields replace the base's; its efforts replace the base's when it has any).
Rendering replaces `{name}` with a variable (`{{`/`}}` are literal braces); an unknown
variable is a ValidationError when a template is saved, so rendering never meets one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from atelier.errors import ValidationError

Category = Literal["primary", "secondary"]
Source = Literal["builtin", "global", "workspace"]

VARIABLES: dict[str, str] = {
    "task.id": "the task's id",
    "task.title": "the task's title",
    "task.prompt": "what the user asked for",
    "task.context": "additional context given with the task (may be empty)",
    "workspace.name": "the workspace's name (empty without one)",
    "workspace.repos": "the target repositories, comma-separated",
    "sandbox.id": "the sandbox's id",
    "branch": "the task branch, e.g. task/ab12cd34 (empty without a repository)",
    "base_branch": "the branch the task branch starts from",
    "directory": "the directory OpenCode works in",
}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class Effort:
    """A named preset: model (`provider/model`), model variant and agent."""

    name: str
    model: str
    variant: str | None = None
    agent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "variant": self.variant,
            "agent": self.agent,
        }


@dataclass(frozen=True)
class SessionTemplate:
    """A template as tasks use it (after merging)."""

    id: str
    name: str
    category: Category
    prompt: str
    efforts: tuple[Effort, ...]
    default_effort: str
    description: str = ""
    source: Source = "builtin"

    def effort(self, name: str | None) -> Effort:
        """The named effort (the default when None); ValidationError naming the choices."""
        wanted = name or self.default_effort
        for effort in self.efforts:
            if effort.name == wanted:
                return effort
        choices = ", ".join(e.name for e in self.efforts)
        raise ValidationError(
            f"effort {wanted!r} is not one of template {self.id!r}'s: {choices}",
            field="effort",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "prompt": self.prompt,
            "efforts": [e.to_dict() for e in self.efforts],
            "defaultEffort": self.default_effort,
            "source": self.source,
        }


def variables_in(text: str) -> list[str]:
    """The variable names a prompt uses, in order of appearance."""
    return [m.group(1).strip() for m in _PLACEHOLDER.finditer(text) if m.group(1) is not None]


def check_prompt(text: str, field_name: str = "prompt") -> None:
    """ValidationError naming the first unknown variable and listing the known ones."""
    for name in variables_in(text):
        if name not in VARIABLES:
            known = ", ".join("{" + v + "}" for v in VARIABLES)
            raise ValidationError(
                f"{field_name}: unknown variable {{{name}}}; known variables: {known}",
                field=field_name,
                hint="write {{ and }} for literal braces",
            )


def render(text: str, values: Mapping[str, str]) -> str:
    """The prompt with variables replaced; runs of blank lines left by empty ones collapse."""
    check_prompt(text)

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group(1).strip(), "")

    rendered = _PLACEHOLDER.sub(substitute, text)
    return re.sub(r"\n{3,}", "\n\n", rendered).strip() + "\n"


# -- parsing stored data ----------------------------------------------------------------


def _text(data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(f"{where}.{key} must be a non-empty string", field=f"{where}.{key}")
    return value


def parse_effort(data: Any, where: str) -> Effort:
    """An effort from JSON `{name, model, variant?, agent?}`."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"{where} must be an object", field=where)
    model = _text(data, "model", where)
    if "/" not in model.strip("/"):
        raise ValidationError(
            f"{where}.model {model!r} must be 'provider/model'", field=f"{where}.model"
        )
    variant = data.get("variant")
    agent = data.get("agent")
    for key, value in (("variant", variant), ("agent", agent)):
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{where}.{key} must be a string", field=f"{where}.{key}")
    return Effort(_text(data, "name", where), model, variant or None, agent or None)


def parse_template(
    data: Any, source: Source, base: SessionTemplate | None = None
) -> SessionTemplate:
    """A template from stored JSON; with `base`, `data` may be partial (an override).

    Raises ValidationError naming the field (unknown variables included).
    """
    if not isinstance(data, Mapping):
        raise ValidationError("a template must be a JSON object", field="template")
    template_id = _text(data, "id", "template") if base is None else base.id
    if not _ID.match(template_id):
        raise ValidationError(
            f"template id {template_id!r}: use 1-64 of a-z 0-9 -, starting with a letter or digit",
            field="id",
        )
    efforts = tuple(
        parse_effort(e, f"efforts[{i}]") for i, e in enumerate(data.get("efforts") or ())
    )
    if base is not None and not efforts:
        efforts = base.efforts
    if not efforts:
        raise ValidationError("a template needs at least one effort", field="efforts")
    names = [e.name for e in efforts]
    if len(set(names)) != len(names):
        raise ValidationError(f"effort names repeat: {names}", field="efforts")
    category = data.get("category", base.category if base else "primary")
    if category not in ("primary", "secondary"):
        raise ValidationError(
            f"category {category!r} is not allowed: use primary or secondary", field="category"
        )
    prompt = data.get("prompt", base.prompt if base else None)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("prompt must be a non-empty string", field="prompt")
    check_prompt(prompt)
    default = data.get("defaultEffort") or (base.default_effort if base else names[0])
    if default not in names and base is not None and "defaultEffort" not in data:
        default = names[0]  # the override replaced the efforts, the base's default with them
    if default not in names:
        raise ValidationError(
            f"defaultEffort {default!r} is not one of {', '.join(names)}", field="defaultEffort"
        )
    name = data.get("name", base.name if base else None)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name must be a non-empty string", field="name")
    description = data.get("description", base.description if base else "")
    return SessionTemplate(
        id=template_id,
        name=name.strip(),
        category=category,
        prompt=prompt,
        efforts=efforts,
        default_effort=default,
        description=description if isinstance(description, str) else "",
        source=source,
    )


def merge(
    builtins: Iterable[SessionTemplate],
    global_data: Iterable[Mapping[str, Any]],
    workspace_data: Iterable[Mapping[str, Any]] = (),
) -> list[SessionTemplate]:
    """Built-ins, then stored global templates, then a workspace's overrides, merged by id."""
    merged: dict[str, SessionTemplate] = {t.id: t for t in builtins}
    layers: tuple[tuple[Iterable[Mapping[str, Any]], Source], ...] = (
        (global_data, "global"),
        (workspace_data, "workspace"),
    )
    for layer, source in layers:
        for data in layer:
            template_id = data.get("id")
            base = merged.get(template_id) if isinstance(template_id, str) else None
            template = parse_template(data, source, base)
            merged[template.id] = template
    return list(merged.values())


# -- the built-ins ----------------------------------------------------------------------

_SONNET = "anthropic/claude-sonnet-4-5"
_OPUS = "anthropic/claude-opus-4-5"

IMPLEMENT_PROMPT = """\
# {task.title}

You are working on this task in a sandbox ({sandbox.id}) of the workspace {workspace.name}.
Work on the branch `{branch}` (created from `{base_branch}`) in `{directory}`.

## What to do
{task.prompt}

## Context
{task.context}

Keep a todo list of your steps up to date while you work. Make focused changes, run the
project's tests where it has them, and finish with a short summary of what you changed.
"""

_REVIEW_INTRO = """\
Look at the changes made so far on the branch `{branch}` in `{directory}` for the task
"{task.title}" (run `git diff` against `{base_branch}` and `git status` to see them).
"""

BEST_PRACTICES_PROMPT = (
    _REVIEW_INTRO
    + """
Review them as an experienced engineer would:
1. Readability: names, structure, size of functions and modules.
2. Robustness: error handling, edge cases, resource cleanup.
3. Design: whether the code follows the project's existing patterns and architecture.
4. Anti-patterns and duplication worth removing.

Fix what you find directly in the code, keeping behaviour the same, and summarise each change.
"""
)

SECURITY_PROMPT = (
    _REVIEW_INTRO
    + """
Review them for security problems:
1. Injection of any kind: SQL, shell commands, templates, paths, HTML (XSS).
2. Authentication and authorisation mistakes.
3. Leaks of secrets or personal data in code, logs and error messages.
4. Risky dependencies and insecure configuration or defaults.
5. Missing validation of untrusted input.

Fix each problem directly, and summarise what you changed and why.
"""
)

SIMPLIFY_PROMPT = (
    _REVIEW_INTRO
    + """
Make them simpler without changing behaviour:
1. Remove needless indirection, abstraction and configuration.
2. Merge duplicated code.
3. Flatten and clarify conditionals.
4. Tighten function signatures and data shapes.
5. Delete dead code.

Apply the simplifications directly and summarise them.
"""
)


def _review(template_id: str, name: str, prompt: str, description: str) -> SessionTemplate:
    return SessionTemplate(
        id=template_id,
        name=name,
        category="secondary",
        prompt=prompt,
        efforts=(Effort("standard", _SONNET, "high", "build"),),
        default_effort="standard",
        description=description,
    )


BUILTINS: tuple[SessionTemplate, ...] = (
    SessionTemplate(
        id="implement",
        name="Implementation",
        category="primary",
        prompt=IMPLEMENT_PROMPT,
        efforts=(
            Effort("low", _SONNET, "high", "build"),
            Effort("medium", _OPUS, "high", "build"),
            Effort("high", _OPUS, "max", "build"),
            Effort("max", _OPUS, "max", "plan"),
        ),
        default_effort="medium",
        description="Carry out the task on its own branch",
    ),
    _review(
        "best-practices",
        "Best Practices Review",
        BEST_PRACTICES_PROMPT,
        "Review the task's changes for quality, robustness and design, and fix them",
    ),
    _review(
        "security-review",
        "Security Review",
        SECURITY_PROMPT,
        "Review the task's changes for security problems, and fix them",
    ),
    _review(
        "simplification",
        "Simplification",
        SIMPLIFY_PROMPT,
        "Simplify the task's changes without changing behaviour",
    ),
)


@dataclass(frozen=True)
class TemplateSet:
    """The templates in effect for one scope, by id."""

    templates: tuple[SessionTemplate, ...] = field(default_factory=lambda: BUILTINS)

    def get(self, template_id: str) -> SessionTemplate:
        for template in self.templates:
            if template.id == template_id:
                return template
        known = ", ".join(t.id for t in self.templates)
        raise ValidationError(
            f"template {template_id!r} does not exist; known: {known}",
            field="templateId",
        )
