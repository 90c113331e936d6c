"""Flow control: a large stream to a slow client must not pile up in the gateway."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc

import pytest

from atelier.runtime.host import proc
from tests.integration.ssh.harness import Rig, remote_dir, stop_child

pytestmark = [pytest.mark.root]

MiB = 1024 * 1024
STREAM = 128 * MiB
MEMORY_BOUND = 32 * MiB  # a few SSH windows (2 MiB each) and write buffers, not the stream


async def test_large_stream_to_a_stalled_reader_stays_bounded(rig: Rig) -> None:
    done_marker = remote_dir(rig) / "stream-done"
    command = f"head -c {STREAM} /dev/zero; touch {done_marker}; exit 5"
    child = await proc.spawn(rig.ssh_argv(rig.alice, command), stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    tracemalloc.start()
    try:
        received = len(await child.stdout.readexactly(MiB))
        # Stop reading. Without backpressure the gateway would swallow the whole stream
        # (loopback moves it in about a second) and the guest command would finish.
        await asyncio.sleep(3)
        assert not done_marker.exists()
        stalled_peak = tracemalloc.get_traced_memory()[1]
        while chunk := await child.stdout.read(MiB):
            received += len(chunk)
        assert await asyncio.wait_for(child.wait(), 120) == 5
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await stop_child(child)
    assert received == STREAM
    assert done_marker.exists()
    assert stalled_peak < MEMORY_BOUND, f"{stalled_peak / MiB:.1f} MiB while the reader stalled"
    assert peak < MEMORY_BOUND, f"{peak / MiB:.1f} MiB peak for a {STREAM // MiB} MiB stream"


async def test_large_upload_keeps_every_byte(rig: Rig) -> None:
    payload = hashlib.sha256(b"seed").digest() * (40 * MiB // 32)
    tracemalloc.start()
    try:
        done = await rig.ssh(rig.alice, "sha256sum | cut -d' ' -f1", input=payload, timeout=120)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == hashlib.sha256(payload).hexdigest()
    # proc.run holds the payload and the output itself; the gateway must add little on top
    assert peak < len(payload) + MEMORY_BOUND, f"{peak / MiB:.1f} MiB peak"
