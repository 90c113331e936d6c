"""The event follower: re-read on connect, reconnect with backoff, poll while down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from atelier.runtime.opencode import (
    Backoff,
    EventFollower,
    Health,
    MessageInfo,
    OpencodeEvent,
    OpencodeUnavailable,
    Pending,
    Prompt,
    Session,
    SessionStatus,
    Todo,
)


class FlakyApi:
    """An OpenCode whose event stream dies after a few events, and that is down for a while."""

    def __init__(self) -> None:
        self.streams = 0
        self.down = False

    async def health(self) -> Health:
        if self.down:
            raise OpencodeUnavailable("down")
        return Health(True, "x")

    def events(self) -> AsyncIterator[OpencodeEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[OpencodeEvent]:
        self.streams += 1
        yield OpencodeEvent("server.connected", {})
        yield OpencodeEvent("session.status", {"sessionID": f"s{self.streams}"})
        raise OpencodeUnavailable("stream broke")

    async def sessions(self) -> list[Session]:
        if self.down:
            raise OpencodeUnavailable("down")
        return []

    async def statuses(self, directory: str) -> dict[str, SessionStatus]:
        return {}

    async def todos(self, session_id: str, directory: str) -> list[Todo]:
        return []

    async def messages(self, session_id: str, directory: str, limit: int) -> list[MessageInfo]:
        return []

    async def create_session(
        self, title: str, directory: str, parent_id: str | None = None
    ) -> Session:
        raise NotImplementedError

    async def prompt(self, session_id: str, prompt: Prompt, directory: str) -> None:
        raise NotImplementedError

    async def abort(self, session_id: str, directory: str) -> None:
        raise NotImplementedError

    async def pending(self, directory: str) -> Pending:
        return Pending()

    async def answer_permission(
        self, request_id: str, reply: str, directory: str, message: str | None = None
    ) -> None:
        raise NotImplementedError

    async def answer_question(
        self, request_id: str, answers: Sequence[Sequence[str]] | None, directory: str
    ) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def test_reconnects_rereads_and_polls() -> None:
    api = FlakyApi()
    seen: list[str] = []
    rereads: list[bool] = []

    async def on_event(event: OpencodeEvent) -> None:
        seen.append(str(event.session_id))

    async def reread() -> None:
        await api.sessions()
        rereads.append(api.down)

    follower = EventFollower(api, on_event, reread, backoff=Backoff(0.01, 0.05), poll_interval=0.01)
    task = asyncio.create_task(follower.run())
    try:
        for _ in range(500):
            if follower.state.connects >= 3:
                break
            await asyncio.sleep(0.01)
        api.down = True
        polls = follower.state.polls
        for _ in range(500):
            if follower.state.polls >= polls + 3:
                break
            await asyncio.sleep(0.01)
        api.down = False
        connects = follower.state.connects
        for _ in range(500):
            if follower.state.connects > connects:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert follower.state.connects > connects >= 3
    assert seen[:3] == ["s1", "s2", "s3"]  # server.connected is not handed on
    assert follower.state.failures >= 3 and follower.state.last_error
    assert len(rereads) >= 3  # one per connection at least


def test_backoff_grows_to_the_ceiling_and_resets() -> None:
    backoff = Backoff(1.0, 8.0)
    delays = [backoff.next() for _ in range(6)]
    assert 0.8 <= delays[0] <= 1.2 and all(d <= 9.6 for d in delays) and delays[-1] >= 6.4
    backoff.reset()
    assert backoff.next() <= 1.2
