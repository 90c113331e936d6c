"""The init engine: answers from the config or prompts, the written config, and running a
plan (fake steps), including that a second run applies nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from atelier.config import AtelierConfig
from atelier.core import init as core_init
from atelier.core.init import Answers, InitContext, PlanItem, StepReport
from atelier.runtime.host.setup_config import SetupConfig


@dataclass
class FakePrompter:
    asked: list[str] = field(default_factory=list)

    def ask(self, question: str, default: str) -> str:
        self.asked.append(question)
        return "typed.example" if "domain" in question else default

    def confirm(self, question: str, default: bool) -> bool:
        self.asked.append(question)
        return False


def test_prefilled_answers_skip_their_prompts() -> None:
    config = AtelierConfig(setup=SetupConfig(domain="pre.example", admin="ops", caches=True))
    prompter = FakePrompter()
    answers = core_init.ask_answers(config, prompter)
    assert answers.domain == "pre.example" and answers.admin == "ops" and answers.caches
    assert not any("domain" in q or "admin" in q or "caches" in q for q in prompter.asked)
    assert answers.proxy is False  # asked, and answered no


def test_without_a_prompter_the_defaults_apply() -> None:
    assert core_init.ask_answers(AtelierConfig(), None) == Answers()


def test_desired_config_keeps_operator_keys_and_records_answers() -> None:
    data = core_init.desired_config(
        {"server": {"port": 4100}, "proxy": {"domain": "mine.example"}}, Answers(domain="x.test")
    )
    assert data["server"] == {"port": 4100}
    assert data["proxy"] == {"domain": "mine.example", "caddy": "service"}
    assert data["registry"] == {"mode": "service"}
    assert data["setup"]["domain"] == "x.test"
    off = core_init.desired_config({}, Answers(caches=False, proxy=False))
    assert "registry" not in off and "proxy" not in off


@dataclass
class Marker:
    """A step whose work is creating one file."""

    name: str
    path: Path
    title: str = "marker"
    skip: bool = False

    async def check(self, ctx: InitContext) -> PlanItem:
        if self.skip:
            return PlanItem(self.name, self.title, "skipped", "skipped in --root mode: would x")
        if self.path.exists():
            return PlanItem(self.name, self.title, "ok", "present")
        return PlanItem(self.name, self.title, "change", f"create {self.path}")

    async def apply(self, ctx: InitContext) -> StepReport:
        self.path.write_text("x")
        return StepReport(self.name, (f"created {self.path}",))


async def test_run_applies_changes_once_and_reports_skips(tmp_path: Path) -> None:
    config_file = Path("/etc/atelier/sandbox.config.json")
    staged = tmp_path / "etc" / "atelier" / "sandbox.config.json"
    staged.parent.mkdir(parents=True)
    staged.write_text(json.dumps({"setup": {"admin": "ops"}}))
    ctx = core_init.context(config_file, root=tmp_path, atelier=Path("/opt/a/bin/atelier"))
    assert ctx.answers.admin == "ops"
    assert ctx.path(config_file) == staged
    assert ctx.staged.paths.data_dir == tmp_path / ctx.config.paths.data_dir.relative_to("/")
    steps = [Marker("a", tmp_path / "a"), Marker("b", tmp_path / "b", skip=True)]
    plan = await core_init.plan(ctx, steps)
    assert [p.state for p in plan] == ["change", "skipped"]
    assert not (tmp_path / "a").exists(), "plan changes nothing"
    first = await core_init.run(ctx, steps)
    assert first.changed and first.steps[0].actions == (f"created {tmp_path / 'a'}",)
    assert first.steps[1].notes == ("skipped in --root mode: would x",)
    second = await core_init.run(ctx, steps)
    assert not second.changed
    assert [p.state for p in second.plan] == ["ok", "skipped"]
