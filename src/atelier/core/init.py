"""`atelier init`: turn a bare Debian 12 server into an Atelier host, idempotently.

Init is a plan of steps (`core.init_steps`), each with `check()` (what, if anything, is
left to do) and `apply()` (do it, returning the actions taken). `plan()` runs every check
and shows the result before anything changes; `run()` applies the steps that need it, in
order. A second run finds nothing to do and changes nothing; an interrupted run resumes
where it stopped, since every step checks the host first.

`--root DIR` installs into a staging root: every file (config, units, data dir) is written
under DIR, and the steps that would change the host itself (mounting the pool, creating
the bridge, enabling units, building the kernel and images) are planned and reported as
"skipped in --root mode" with exactly what they would do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from atelier.config import AtelierConfig, PathsConfig, load_config

__all__ = [
    "Answers",
    "InitContext",
    "InitReport",
    "PlanItem",
    "Prompter",
    "Step",
    "StepReport",
    "ask_answers",
    "context",
    "plan",
    "run",
]

State = Literal["ok", "change", "skipped"]


@dataclass(frozen=True)
class PlanItem:
    """One step's check: ok (nothing to do), change (will act) or skipped (and why)."""

    name: str
    title: str
    state: State
    detail: str

    def to_dict(self) -> dict[str, str]:
        """Plain JSON data."""
        return {"step": self.name, "title": self.title, "state": self.state, "detail": self.detail}


@dataclass(frozen=True)
class StepReport:
    """What one step did."""

    name: str
    actions: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"step": self.name, "actions": list(self.actions), "notes": list(self.notes)}


@dataclass(frozen=True)
class InitReport:
    """The plan as checked, and what each applied step did."""

    plan: tuple[PlanItem, ...]
    steps: tuple[StepReport, ...]
    root: Path | None
    token: str | None = None

    @property
    def changed(self) -> bool:
        """True when any step acted."""
        return any(s.actions for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (the admin token, shown once, included when one was made)."""
        return {
            "root": str(self.root) if self.root else None,
            "changed": self.changed,
            "plan": [p.to_dict() for p in self.plan],
            "steps": [s.to_dict() for s in self.steps],
            "admin_token": self.token,
        }


@dataclass(frozen=True)
class Answers:
    """The answers init acts on (from `setup.*`, prompts or defaults)."""

    domain: str = "localhost"
    admin: str = "admin"
    storage: str = "pool"
    network: str = "setup"
    kernel: str = "cloud"
    images: tuple[str, ...] = ("minimal", "dev-base")
    caches: bool = True
    proxy: bool = True
    firecracker: str | None = None

    def to_setup(self) -> dict[str, Any]:
        """The `setup` section that records these answers in the config file."""
        data: dict[str, Any] = {
            "domain": self.domain,
            "admin": self.admin,
            "storage": self.storage,
            "network": self.network,
            "kernel": self.kernel,
            "images": list(self.images),
            "caches": self.caches,
            "proxy": self.proxy,
        }
        if self.firecracker:
            data["firecracker"] = self.firecracker
        return data


class Prompter(Protocol):
    """Asks the operator; the CLI implements it with Rich prompts."""

    def ask(self, question: str, default: str) -> str:
        """A free-text answer."""
        ...

    def confirm(self, question: str, default: bool) -> bool:
        """A yes/no answer."""
        ...


def ask_answers(config: AtelierConfig, prompter: Prompter | None) -> Answers:
    """Answers from `setup.*`; each unset one is asked (or defaulted without a prompter)."""
    s, d = config.setup, Answers()

    def text(value: str | None, question: str, default: str) -> str:
        if value is not None:
            return value
        return prompter.ask(question, default) if prompter else default

    def yes(value: bool | None, question: str, default: bool) -> bool:
        if value is not None:
            return value
        return prompter.confirm(question, default) if prompter else default

    domain = s.domain or (config.proxy.domain if config.proxy.domain != "localhost" else None)
    return Answers(
        domain=text(domain, "Base domain for sandbox URLs", d.domain),
        admin=text(s.admin, "Username of the first admin", d.admin),
        storage=text(s.storage, "Storage pool if the data dir cannot reflink (pool/skip)", "pool"),
        network=text(s.network, "Set up the sandbox network now (setup/skip)", "setup"),
        kernel=text(s.kernel, "Guest kernel (custom: build, minutes; cloud; skip)", d.kernel),
        images=tuple(s.images) if s.images is not None else d.images,
        caches=yes(s.caches, "Install the npm and PyPI caches for sandboxes", d.caches),
        proxy=yes(s.proxy, "Publish sandboxes over HTTPS through Caddy", d.proxy),
        firecracker=s.firecracker,
    )


@dataclass
class InitContext:
    """Everything a step needs: the config as it will be written, the same with staged
    paths for file work, the answers, and where things go."""

    config: AtelierConfig
    staged: AtelierConfig
    answers: Answers
    config_file: Path
    atelier: Path
    root: Path | None = None
    token: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def staging(self) -> bool:
        """True in --root mode."""
        return self.root is not None

    def path(self, path: Path) -> Path:
        """`path` as written: under the staging root in --root mode."""
        return self.root / path.relative_to("/") if self.root else path


class Step(Protocol):
    """One concern of host setup."""

    name: str
    title: str

    async def check(self, ctx: InitContext) -> PlanItem:
        """What is left to do; changes nothing."""
        ...

    async def apply(self, ctx: InitContext) -> StepReport:
        """Do what check found missing; returns the actions taken."""
        ...


def _staged_paths(paths: PathsConfig, root: Path) -> PathsConfig:
    def under(p: Path) -> Path:
        return root / p.absolute().relative_to("/")

    return PathsConfig(
        data_dir=under(paths.data_dir),
        cache_dir=under(paths.cache_dir),
        run_dir=under(paths.run_dir),
        image_dir=under(paths.image_dir) if paths.image_dir else None,
    )


def desired_config(file_data: dict[str, Any], answers: Answers) -> dict[str, Any]:
    """The config file's content after init: the operator's keys kept, the answers
    recorded under `setup`, and the services init installs switched on."""
    data: dict[str, Any] = json.loads(json.dumps(file_data))
    data["setup"] = {**data.get("setup", {}), **answers.to_setup()}
    if answers.caches:
        data.setdefault("registry", {}).setdefault("mode", "service")
    if answers.proxy:
        proxy = data.setdefault("proxy", {})
        proxy.setdefault("caddy", "service")
        proxy.setdefault("domain", answers.domain)
    return data


def context(
    config_file: Path,
    *,
    root: Path | None = None,
    prompter: Prompter | None = None,
    atelier: Path | None = None,
) -> InitContext:
    """Read the (staged) config file, ask what is not pre-filled, and build the context."""
    written = root / config_file.absolute().relative_to("/") if root else config_file
    file_data: dict[str, Any] = json.loads(written.read_text()) if written.exists() else {}
    first = load_config(written)
    answers = ask_answers(first, prompter)
    data = desired_config(file_data, answers)
    config = AtelierConfig.model_validate({**_effective(first), **data})
    staged = (
        config.model_copy(update={"paths": _staged_paths(config.paths, root)}) if root else config
    )
    return InitContext(
        config=config,
        staged=staged,
        answers=answers,
        config_file=config_file,
        atelier=atelier or Path(sys.prefix) / "bin" / "atelier",
        root=root,
    )


def _effective(config: AtelierConfig) -> dict[str, Any]:
    # Keep environment overrides and defaults resolved for this host (e.g. data_dir).
    return {"paths": config.paths.model_dump()}


async def plan(ctx: InitContext, steps: Sequence[Step]) -> list[PlanItem]:
    """Every step's check, in order; changes nothing."""
    return [await step.check(ctx) for step in steps]


async def run(
    ctx: InitContext,
    steps: Sequence[Step],
    *,
    on_step: Callable[[PlanItem], None] = lambda _item: None,
    on_done: Callable[[StepReport], None] = lambda _report: None,
) -> InitReport:
    """Check each step again right before it runs and apply it when it needs changes."""
    checked, reports = [], []
    for step in steps:
        item = await step.check(ctx)
        checked.append(item)
        on_step(item)
        if item.state == "change":
            report = await step.apply(ctx)
        else:
            report = StepReport(step.name, (), (item.detail,) if item.state == "skipped" else ())
        reports.append(report)
        on_done(report)
    return InitReport(tuple(checked), tuple(reports), ctx.root, ctx.token)
