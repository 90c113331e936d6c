"""The event bus: fan-out, audiences, bounded queues."""

from __future__ import annotations

from atelier.core.events import EventBus


async def test_fan_out_and_audience() -> None:
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    event = bus.publish("sandbox.status", {"id": "x"}, audience={"alice"})
    assert (await a.get()).id == event.id
    assert (await b.get()).type == "sandbox.status"
    assert event.visible_to("alice", is_admin=False)
    assert not event.visible_to("bob", is_admin=False)
    assert event.visible_to("bob", is_admin=True)
    a.close()
    b.close()


async def test_slow_subscriber_loses_oldest_and_is_told() -> None:
    bus = EventBus(queue_size=3)
    sub = bus.subscribe()
    for i in range(5):
        bus.publish("tick", {"i": i})
    lagged = await sub.get()
    assert lagged.type == "stream.lagged" and lagged.data["dropped"] == 2
    assert [(await sub.get()).data["i"] for _ in range(3)] == [2, 3, 4]
    sub.close()
