"""Service operations: list, status, start, stop, restart, logs, define, remove."""

from __future__ import annotations

import os

from atelier.guest import protocol as p
from atelier.guest import services
from atelier.guest.session import OpError
from atelier.guest.supervisor import Supervisor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from atelier.guest.agent import Agent
    from atelier.guest.session import Args, Stream

MAX_LOG_READ = 1 << 20


def supervisor(agent: Agent) -> Supervisor:
    result: Supervisor = agent.part("services", Supervisor)
    return result


def _answer(stream: Stream, produce: Callable[[], dict[str, Any]]) -> None:
    try:
        stream.reply(produce())
    except OpError as exc:
        stream.fail_with(exc)


def op_list(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    return {"services": supervisor(agent).list()}


def op_status(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    sup = supervisor(agent)
    return sup.status(sup.get(args.need_text("name")))


def op_start(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    return supervisor(agent).start(args.need_text("name"))


def op_stop(agent: Agent, stream: Stream, args: Args) -> None:
    sup = supervisor(agent)
    name = args.need_text("name")
    sup.stop(name, lambda: _answer(stream, lambda: sup.status(sup.get(name))))


def op_restart(agent: Agent, stream: Stream, args: Args) -> None:
    sup = supervisor(agent)
    name = args.need_text("name")
    sup.get(name)
    sup.stop(name, lambda: _answer(stream, lambda: sup.start(name)))


def op_logs(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    limit = args.integer("limit", 64 << 10, low=1, high=MAX_LOG_READ) or (64 << 10)
    tail = args.integer("tail", low=0, high=MAX_LOG_READ)
    offset = args.integer("offset", low=0)
    return supervisor(agent).logs(args.need_text("name"), offset, limit, tail)


def op_define(agent: Agent, stream: Stream, args: Args) -> dict[str, Any]:
    """Create or replace a run-time service (a dev command) in the runtime directory."""
    name = args.need_text("name")
    spec = args.data.get("spec")
    if not isinstance(spec, dict):
        raise OpError(
            p.E_BAD_REQUEST, "field 'spec' must be a service definition map", field="spec"
        )
    try:
        parsed = services.ServiceSpec(name, spec)
    except services.SpecError as exc:
        raise OpError(p.E_BAD_REQUEST, f"service {name!r}: {exc}", field="spec") from None
    import json

    directory = agent.config.runtime_services_dir
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(parsed.to_dict(), fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
    sup = supervisor(agent)
    return sup.status(sup.get(name))


def op_remove(agent: Agent, stream: Stream, args: Args) -> None:
    """Stop a run-time service and delete its definition (image services cannot be removed)."""
    name = args.need_text("name")
    path = os.path.join(agent.config.runtime_services_dir, f"{name}.json")
    if not os.path.isfile(path):
        raise OpError(
            p.E_NOT_FOUND,
            f"no run-time service {name!r} in {agent.config.runtime_services_dir}",
            field="name",
        )
    sup = supervisor(agent)

    def removed() -> dict[str, Any]:
        os.unlink(path)
        sup.reload()
        return {"name": name, "removed": True}

    sup.stop(name, lambda: _answer(stream, removed))
