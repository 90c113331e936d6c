"""The host process runner: argv only, timeouts kill the group, clear errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from atelier.errors import CommandError, ToolMissing
from atelier.runtime.host import proc


async def test_run_captures_output() -> None:
    done = await proc.run(["echo", "hello world"], timeout=10)
    assert done.text == "hello world\n"
    assert done.returncode == 0


async def test_run_never_uses_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    done = await proc.run(["echo", f"x; touch {marker}"], timeout=10)
    assert "touch" in done.text
    assert not marker.exists()


async def test_failure_raises_with_stderr() -> None:
    with pytest.raises(CommandError) as info:
        await proc.run(["ls", "/definitely/not/here"], timeout=10)
    assert info.value.returncode != 0
    assert "/definitely/not/here" in info.value.message


async def test_missing_tool_names_package() -> None:
    with pytest.raises(ToolMissing) as info:
        await proc.run(["no-such-tool-atelier"], timeout=5)
    assert "no-such-tool-atelier" in info.value.message


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # The child backgrounds a grandchild; the timeout must kill both.
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    with pytest.raises(CommandError) as info:
        await proc.run(["sh", "-c", script], timeout=1)
    assert "timed out" in info.value.message
    grandchild = int(pidfile.read_text())
    for _ in range(50):
        if not proc.pid_alive(grandchild):
            break
        await asyncio.sleep(0.05)
    assert not proc.pid_alive(grandchild)


async def test_environment_is_minimal() -> None:
    done = await proc.run(["env"], timeout=10, env={"EXTRA": "1"})
    keys = {line.split("=", 1)[0] for line in done.text.splitlines()}
    assert "EXTRA" in keys and "PATH" in keys
    assert "PYTEST_CURRENT_TEST" not in keys


async def test_input_is_passed() -> None:
    done = await proc.run(["cat"], timeout=10, input=b"abc")
    assert done.stdout == b"abc"


def test_describe_redacts_secrets() -> None:
    assert "s3cret" not in proc.describe(["tool", "--token=s3cret"], secrets=["s3cret"])


async def test_stop_group_terms_then_kills_the_whole_group() -> None:
    # The shell ignores SIGTERM and has a child in its group: both must be gone.
    child = await proc.spawn(
        ["sh", "-c", "trap '' TERM; sleep 60 & echo $!; wait"], stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    grandchild = int(await asyncio.wait_for(child.stdout.readline(), 10))
    await proc.stop_group(child, 0.5)
    assert child.returncode == -9
    assert await proc.wait_for_exit(grandchild, 5)


async def test_stop_group_lets_a_child_end_on_sigterm() -> None:
    child = await proc.spawn(["sleep", "60"])
    await proc.stop_group(child, 10)
    assert child.returncode == -15
    await proc.stop_group(child, 10)  # already ended: nothing to do
