"""The relay's bookkeeping with fake channels: holding, pausing, EOF and close order."""

from __future__ import annotations

from atelier.runtime.ssh.relay import WRITE_HIGH, WRITE_LOW, End, pair


class FakeChannel:
    """Records what an End does to its channel; `full` makes writes report backpressure."""

    def __init__(self, session: End | None = None, full: bool = False) -> None:
        self.session = session
        self.full = full
        self.log: list[object] = []
        self.paused = False
        self.closing = False
        self.limits: tuple[int, int] | None = None

    def write(self, data: bytes, datatype: int | None = None) -> None:
        self.log.append((data, datatype))
        if self.full and self.session is not None:
            self.session.pause_writing()

    def write_eof(self) -> None:
        self.log.append("eof")

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closing = True
        self.log.append("close")

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        self.limits = (high, low)


def _pair() -> tuple[End, FakeChannel, End]:
    down, up = End(), End()
    pair(down, up)
    down_chan = FakeChannel(down)
    down.connection_made(down_chan)
    down.session_started()
    return down, down_chan, up


def test_data_for_an_unready_end_is_held_and_the_source_paused() -> None:
    down, down_chan, up = _pair()
    assert down_chan.limits == (WRITE_HIGH, WRITE_LOW)
    down.data_received(b"early", None)
    down.eof_received()
    assert down_chan.paused
    up_chan = FakeChannel(up)
    up.connection_made(up_chan)
    assert up_chan.log == []
    up.session_started()
    assert up_chan.log == [(b"early", None), "eof"]
    assert not down_chan.paused


def test_backpressure_pauses_the_other_side_until_drained() -> None:
    down, down_chan, up = _pair()
    up_chan = FakeChannel(up)
    up.connection_made(up_chan)
    up.session_started()
    down.pause_writing()  # the client's channel buffers too much
    assert up_chan.paused
    up.data_received(b"x", 1)
    assert down_chan.log == [(b"x", 1)]
    down.resume_writing()
    assert not up_chan.paused


def test_flush_that_fills_the_buffer_keeps_the_source_paused() -> None:
    down, down_chan, up = _pair()
    down.data_received(b"big", None)
    up_chan = FakeChannel(up, full=True)
    up.connection_made(up_chan)
    up.session_started()
    assert down_chan.paused  # resumes only when the guest channel drains
    up.resume_writing()
    assert not down_chan.paused


def test_close_waits_for_readiness_and_follows_the_peer() -> None:
    down, down_chan, up = _pair()
    down.data_received(b"last", None)
    up.finish()
    up_chan = FakeChannel(up)
    up.connection_made(up_chan)
    up.session_started()
    assert up_chan.log == [(b"last", None), "close"]
    up.connection_lost(None)
    assert down_chan.log[-1] == "close"
    assert up.closed
    up.send(b"dropped")
    assert up_chan.log[-1] == "close"


def test_tally_counts_received_bytes() -> None:
    seen: list[int] = []
    end, other = End(seen.append), End()
    pair(end, other)
    end.data_received(b"12345", None)
    assert seen == [5]
