"""Who gets in, what the others are told, and what the audit log records."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from atelier.core.ssh import AuditView, SshExtension
from atelier.runtime.host import proc
from atelier.runtime.network.base import Endpoint
from tests.integration.ssh.harness import (
    SANDBOX,
    Rig,
    TargetSshd,
    free_port,
    poll_until,
    running_rig,
    stop_child,
)

pytestmark = [pytest.mark.root]

UNKNOWN = "no sandbox {ref} (list yours with `atelier sandbox list`)\n"
STOPPED = f"sandbox {SANDBOX} is stopped; start it with `atelier sandbox start {SANDBOX}`\n"


async def test_member_gets_in_only_after_being_added(rig: Rig) -> None:
    refused = await rig.ssh(rig.bob, "echo in")
    assert refused.returncode == 255
    assert refused.stdout == b""
    assert refused.stderr.decode() == UNKNOWN.format(ref=SANDBOX)

    rig.directory.add_member(SANDBOX, rig.bob.user_id)
    allowed = await rig.ssh(rig.bob, "echo in; echo $ATELIER_USER")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == b"in\nbob\n"

    rig.directory.remove_member(SANDBOX, rig.bob.user_id)
    again = await rig.ssh(rig.bob, "echo in")
    assert again.returncode == 255


async def test_no_access_looks_like_no_sandbox(rig: Rig) -> None:
    unknown = await rig.ssh(rig.alice, "true", sandbox="nosuchid")
    assert unknown.returncode == 255
    assert unknown.stderr.decode() == UNKNOWN.format(ref="nosuchid")
    no_access = await rig.ssh(rig.bob, "true")
    assert no_access.stderr.decode() == UNKNOWN.format(ref=SANDBOX)


async def test_sandbox_name_works_as_ssh_user(rig: Rig) -> None:
    done = await rig.ssh(rig.alice, "echo by-name", sandbox="web")
    assert done.stdout == b"by-name\n", done.stderr


async def test_stopped_and_starting_sandboxes_say_so(rig: Rig) -> None:
    rig.directory.set_status(SANDBOX, "stopped")
    stopped = await rig.ssh(rig.alice, "true")
    assert stopped.returncode == 255
    assert stopped.stderr.decode() == STOPPED
    sftp = await proc.run(
        ["sftp", *rig.common(rig.alice), "-P", str(rig.port), "-b", "/dev/null",
         f"{SANDBOX}@127.0.0.1"],
        timeout=60, check=False,
    )  # fmt: skip
    assert sftp.returncode != 0
    assert STOPPED.strip() in sftp.stderr.decode()

    rig.directory.set_status(SANDBOX, "starting")
    starting = await rig.ssh(rig.alice, "true")
    assert "is starting; SSH works once it is running" in starting.stderr.decode()
    # a stopped sandbox the caller cannot use is still "no sandbox"
    rig.directory.set_status(SANDBOX, "stopped")
    assert (await rig.ssh(rig.bob, "true")).stderr.decode() == UNKNOWN.format(ref=SANDBOX)


async def test_forward_refusal_carries_the_message(rig: Rig) -> None:
    # OpenSSH logs channel open failures at INFO: "channel 0: open failed: <reason>: <text>"
    done = await rig.ssh(rig.bob, options=["-W", "127.0.0.1:22"], log_level="INFO")
    assert done.returncode == 255
    expected = f"open failed: administratively prohibited: {UNKNOWN.format(ref=SANDBOX).strip()}"
    assert expected in done.stderr.decode()


async def test_two_users_at_once(rig: Rig) -> None:
    rig.directory.add_member(SANDBOX, rig.bob.user_id)
    marker = rig.tmp / "alice-is-in"
    script = f"echo alice-in; touch {marker}; read line; echo got-$line"
    alice = await proc.spawn(
        rig.ssh_argv(rig.alice, script),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await poll_until(marker.exists)
        bob = await rig.ssh(rig.bob, "echo bob-in; echo $ATELIER_USER")
        assert bob.stdout == b"bob-in\nbob\n", bob.stderr
        assert alice.stdin is not None
        alice.stdin.write(b"hello\n")
        await alice.stdin.drain()
        alice.stdin.close()
        assert alice.stdout is not None
        out = await asyncio.wait_for(alice.stdout.read(), 30)
        assert out == b"alice-in\ngot-hello\n"
        assert await asyncio.wait_for(alice.wait(), 30) == 0
    finally:
        await stop_child(alice)


async def test_expired_key_is_refused_immediately(rig: Rig) -> None:
    key = rig.tmp / "id_temp"
    await proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], timeout=30)
    expires = rig.clock() + timedelta(hours=1)
    view = await rig.service.keys.add(
        rig.alice.user_id, (rig.tmp / "id_temp.pub").read_text(), name="temp", expires_at=expires
    )
    temp = type(rig.alice)(rig.alice.user_id, "alice", key, view.fingerprint)
    assert (await rig.ssh(temp, "echo ok")).stdout == b"ok\n"
    rig.clock.advance(timedelta(hours=2))
    denied = await rig.ssh(temp, "echo ok")
    assert denied.returncode == 255
    assert "Permission denied (publickey)" in denied.stderr.decode()
    assert (await rig.ssh(rig.alice, "echo ok")).stdout == b"ok\n"


async def test_removed_key_and_unknown_key_are_refused(rig: Rig) -> None:
    await rig.service.keys.remove(rig.bob.user_id, "laptop")
    removed = await rig.ssh(rig.bob, "true")
    assert "Permission denied (publickey)" in removed.stderr.decode()
    stranger = rig.tmp / "id_stranger"
    await proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger], timeout=30)
    nobody = type(rig.alice)("", "nobody", stranger)
    denied = await rig.ssh(nobody, "true")
    assert denied.returncode == 255
    assert "Permission denied (publickey)" in denied.stderr.decode()


async def _events(rig: Rig, count: int) -> list[AuditView]:
    async def enough() -> bool:  # disconnects are recorded as the connection closes
        return len(await rig.service.audit_events()) >= count

    await poll_until(enough)
    return await rig.service.audit_events()


async def test_audit_records_connect_disconnect_and_refusal(rig: Rig) -> None:
    assert (await rig.ssh(rig.alice, "head -c 1000 /dev/zero")).returncode == 0
    assert (await rig.ssh(rig.bob, "true")).returncode == 255
    events = await _events(rig, 3)
    by_kind = {e.kind: e for e in events}
    assert set(by_kind) == {"ssh.connect", "ssh.disconnect", "ssh.refused"}
    connect, disconnect = by_kind["ssh.connect"], by_kind["ssh.disconnect"]
    assert connect.user_id == disconnect.user_id == rig.alice.user_id
    assert connect.sandbox_id == disconnect.sandbox_id == SANDBOX
    assert connect.detail["fingerprint"] == rig.alice.fingerprint
    assert disconnect.detail["duration_s"] >= 0
    assert disconnect.detail["bytes_from_sandbox"] >= 1000
    assert disconnect.detail["sessions"] == 1
    refused = by_kind["ssh.refused"]
    assert refused.user_id == rig.bob.user_id
    assert refused.detail["reason"] == "unknown"
    keys = await rig.service.keys.list(rig.alice.user_id)
    assert keys[0].last_used_at is not None


async def test_forwarding_can_be_disabled(target_sshd: TargetSshd, tmp_path: Path) -> None:
    async with running_rig(
        target_sshd, tmp_path, port_forwarding=False, agent_forwarding=False
    ) as rig:
        forward = await rig.ssh(rig.alice, options=["-W", "127.0.0.1:22"], log_level="INFO")
        assert "port forwarding is disabled on this gateway" in forward.stderr.decode()
        agent = await rig.ssh(rig.alice, "echo ${SSH_AUTH_SOCK:-none}", options=["-A"])
        assert agent.stdout == b"none\n", agent.stderr


async def test_stopping_a_sandbox_ends_its_sessions(rig: Rig) -> None:
    child = await proc.spawn(
        rig.ssh_argv(rig.alice, "echo in; sleep 60"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"in\n"
        rig.directory.set_status(SANDBOX, "stopped")
        await SshExtension(rig.service).on_stopped(SANDBOX)
        assert await asyncio.wait_for(child.wait(), 30) == 255
        assert (await rig.ssh(rig.alice, "true")).stderr.decode() == STOPPED
    finally:
        await stop_child(child)


async def test_unreachable_guest_is_explained(rig: Rig) -> None:
    rig.directory.endpoints[SANDBOX] = Endpoint("tcp", "127.0.0.1", free_port())
    done = await rig.ssh(rig.alice, "true")
    assert done.returncode == 255
    assert f"cannot reach the sshd of sandbox {SANDBOX} at 127.0.0.1:" in done.stderr.decode()


async def test_connection_limit_turns_clients_away(target_sshd: TargetSshd, tmp_path: Path) -> None:
    async with running_rig(target_sshd, tmp_path, max_connections=1) as rig:
        first = await proc.spawn(
            rig.ssh_argv(rig.alice, "echo in; sleep 60"), stdout=asyncio.subprocess.PIPE
        )
        try:
            assert first.stdout is not None
            assert await asyncio.wait_for(first.stdout.readline(), 30) == b"in\n"
            second = await rig.ssh(rig.alice, "true", log_level="INFO")
            assert second.returncode == 255
            assert "too many connections" in second.stderr.decode()
        finally:
            await stop_child(first)
