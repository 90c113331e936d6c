"""exec: output, stdin, streaming, timeouts that kill whole trees, cancellation, users."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from atelier.runtime.agent import AgentClient, AgentDisconnected, AgentError
from atelier.runtime.agent.errors import AgentExecFailed, AgentNotFound
from tests.integration.agent.conftest import gone

# Prints the pid of a child and of a grandchild (a child of a nested shell), then waits.
TREE = "sleep 300 & echo $!; sh -c 'sleep 300 & echo $!; wait' & echo $!; wait"


async def test_exit_code_and_both_streams(client: AgentClient) -> None:
    result = await client.exec(shell="echo out; echo err >&2; exit 3")
    assert (result.stdout, result.stderr, result.exit_code, result.signal) == (
        b"out\n",
        b"err\n",
        3,
        None,
    )


async def test_stdin_round_trip(client: AgentClient) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB, more than one window
    result = await client.exec(["cat"], input=data)
    assert result.stdout == data and result.ok


async def test_large_output_is_complete(client: AgentClient) -> None:
    result = await client.exec(["head", "-c", str(16 << 20), "/dev/zero"])
    assert len(result.stdout) == 16 << 20


async def test_output_streams_before_the_process_exits(client: AgentClient) -> None:
    proc = await client.exec_stream(shell="echo first; read line; echo second $line", stdin=True)
    it = proc.__aiter__()
    name, data = await anext(it)
    # The command is blocked on `read` until we write: this output came before its exit.
    assert (name, data) == ("stdout", b"first\n")
    await proc.write(b"now\n")
    proc.close_stdin()
    rest = b"".join([chunk async for _, chunk in it])
    assert rest == b"second now\n"
    assert (await proc.wait()).ok


async def test_timeout_kills_the_whole_tree(client: AgentClient) -> None:
    proc = await client.exec_stream(shell=TREE, timeout=1.5)
    output = b""
    async for _, chunk in proc:
        output += chunk
    result = await proc.wait()
    pids = [int(line) for line in output.split()]
    assert len(pids) == 3  # child, nested shell, grandchild
    assert result.timed_out and result.signal == 9 and result.exit_code is None
    for pid in [proc.pid, *pids]:
        assert await gone(pid), f"pid {pid} survived the timeout"


async def test_cancel_kills_the_tree(client: AgentClient) -> None:
    proc = await client.exec_stream(shell=TREE)
    it = proc.__aiter__()
    pids: list[int] = []
    while len(pids) < 3:
        _, chunk = await anext(it)
        pids += [int(x) for x in chunk.split()]
    proc.cancel()
    for pid in [proc.pid, *pids]:
        assert await gone(pid)
    with pytest.raises(AgentError):
        await proc.wait()
    assert (await client.health()).status == "ok"


async def test_signal_reaches_the_group(client: AgentClient) -> None:
    proc = await client.exec_stream(
        shell="trap 'echo got TERM; exit 7' TERM; echo ready; sleep 300 & wait"
    )
    it = proc.__aiter__()
    assert await anext(it) == ("stdout", b"ready\n")
    proc.signal("TERM")
    result = await proc.wait()
    assert result.exit_code == 7


async def test_children_left_behind_are_killed_when_the_leader_exits(client: AgentClient) -> None:
    result = await client.exec(shell="sleep 300 >/dev/null 2>&1 & echo $!")
    assert await gone(int(result.stdout))


async def test_runs_as_another_user_with_cwd_and_env(client: AgentClient) -> None:
    result = await client.exec(
        shell='echo "$(id -un) $(pwd) $X"', user="nobody", cwd="/", env={"X": "y"}
    )
    assert result.stdout == b"nobody / y\n"


async def test_missing_program_and_user_are_clear_errors(client: AgentClient) -> None:
    with pytest.raises(AgentExecFailed) as info:
        await client.exec(["/no/such/program"])
    assert "/no/such/program" in info.value.message
    with pytest.raises(AgentNotFound):
        await client.exec(["true"], user="no-such-user-atl")


async def test_calls_fail_cleanly_when_the_agent_dies(client: AgentClient) -> None:
    proc = await client.exec_stream(["sleep", "300"])
    try:
        with pytest.raises(AgentDisconnected):
            await client.exec(shell="kill -9 $PPID")  # the agent is every command's parent
        with pytest.raises(AgentDisconnected):
            await proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)  # orphaned by the dead agent
