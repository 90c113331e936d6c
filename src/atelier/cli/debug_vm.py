"""`atelier debug-vm start|stop|status`: boot a throwaway VM to check the host."""

from __future__ import annotations

from typing import Annotated

import typer

from atelier.cli import output
from atelier.cli.app import run
from atelier.config import load_config
from atelier.core.debug_vm import DebugVmResult, DebugVmService

GROUP = "debug-vm"
app = typer.Typer(help="Boot a throwaway VM to check that this host can run sandboxes.")


@app.command("start")
def start(
    image: Annotated[str | None, typer.Option(help="Image to boot (default: minimal).")] = None,
    exec_: Annotated[
        str | None, typer.Option("--exec", help="Shell command to run in the guest.")
    ] = None,
    keep: Annotated[
        bool, typer.Option(help="Leave the VM running (stop it with `debug-vm stop`).")
    ] = False,
    memory: Annotated[
        int | None, typer.Option(help="Guest memory in MiB (default: the image's).")
    ] = None,
    vcpus: Annotated[int, typer.Option(min=1, max=64, help="Virtual CPUs.")] = 1,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for the agent.")] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Boot a VM, wait for its agent, optionally run a command, print a timing breakdown."""
    output.use_json(json_output)
    service = DebugVmService(load_config())
    if output.state.json:
        result = run(
            service.start(
                image=image,
                command=exec_,
                keep=keep,
                memory_mb=memory,
                vcpus=vcpus,
                timeout=timeout,
            )
        )
    else:
        with output.err.status("starting") as status:
            result = run(
                service.start(
                    image=image, command=exec_, keep=keep, memory_mb=memory, vcpus=vcpus,
                    timeout=timeout, progress=lambda msg: status.update(msg),
                )
            )  # fmt: skip
    output.show(result.to_dict(), _render(result))
    if result.exec is not None and result.exec.exit_code != 0:
        raise typer.Exit(1)


@app.command("stop")
def stop(
    name: Annotated[
        str | None, typer.Argument(help="VM to stop (default: every debug VM).")
    ] = None,
    json_output: output.JsonFlag = False,
) -> None:
    """Power off debug VMs started with --keep."""
    output.use_json(json_output)
    stopped = run(DebugVmService(load_config()).stop(name))
    output.show({"stopped": stopped}, "stopped: " + (", ".join(stopped) or "nothing"))


@app.command("status")
def status(json_output: output.JsonFlag = False) -> None:
    """List running debug VMs."""
    output.use_json(json_output)
    running = run(DebugVmService(load_config()).running())
    output.show({"running": running}, "\n".join(running) or "no debug VM is running")


def _render(result: DebugVmResult) -> object:
    from rich.console import Group
    from rich.text import Text

    t = result.timings
    rows = [
        ("VMM start", t.vmm_ms),
        ("kernel (to init)", t.kernel_ms),
        ("init (to agent)", t.init_ms),
        ("agent ready (total)", t.agent_ready_ms),
        ("exec", t.exec_ms),
        ("teardown", t.teardown_ms),
    ]
    accel = result.extra.get("accel", "")
    header = Text(
        f"{result.name}: {result.vmm} ({accel}), kernel {result.kernel}, image {result.image},"
        f" {result.memory_mb} MiB, {result.vcpus} vCPU",
        style="bold",
    )
    table = output.table(
        None,
        ["phase", "ms"],
        [(label, f"{value:.0f}") for label, value in rows if value is not None],
    )
    parts: list[object] = [header, table]
    if result.exec is not None:
        parts.append(
            Text(f"\n$ {result.exec.command}  (exit {result.exec.exit_code})", style="bold")
        )
        parts.append(Text(result.exec.stdout + result.exec.stderr))
    if result.kept:
        parts.append(Text(f"kept running: stop it with `atelier debug-vm stop {result.name}`"))
    return Group(*parts)  # type: ignore[arg-type]  # Rich renderables
