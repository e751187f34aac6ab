"""The one subscriber list: one unsubscribe rule, delivery in order, outside every lock."""

from __future__ import annotations

import logging

import pytest

from runsecrets.reload.listeners import Listeners

logger = logging.getLogger("tests.listeners")


def _latest(first: int, second: int) -> int:
    return second


def test_each_unsubscribe_removes_its_own_subscription_only() -> None:
    """The same callback subscribed twice is called twice; each remover removes one of the
    two, never every equal callback (the TLS context's old rule) nor the first one found."""
    listeners: Listeners[int] = Listeners(merge=_latest, logger=logger, what="test listeners")
    seen: list[int] = []
    first = listeners.subscribe(seen.append)
    listeners.subscribe(seen.append)
    listeners.publish(1)
    listeners.deliver()
    assert seen == [1, 1]
    first()
    first()  # twice is harmless
    listeners.publish(2)
    listeners.deliver()
    assert seen == [1, 1, 2]


def test_a_failing_subscriber_is_counted_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One that raises is logged (type and place, not the message) and counted."""
    listeners: Listeners[int] = Listeners(merge=_latest, logger=logger, what="test listeners")
    seen: list[int] = []

    def broken(item: int) -> None:
        raise RuntimeError("a message that may quote a value")

    listeners.subscribe(broken)
    listeners.subscribe(seen.append)
    listeners.publish(7)
    listeners.deliver()
    assert seen == [7]
    assert listeners.errors == 1
    assert "a message that may quote" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_a_publish_from_inside_a_subscriber_reaches_everyone_after_the_current_one() -> None:
    """Every subscriber ends on the newest item, delivered once the current one is done."""
    listeners: Listeners[int] = Listeners(merge=_latest, logger=logger, what="test listeners")
    order: list[tuple[str, int]] = []

    def first(item: int) -> None:
        order.append(("first", item))
        if item == 1:
            listeners.publish(2)
            listeners.deliver()  # a loop runs already: it delivers this one next

    listeners.subscribe(first)
    listeners.subscribe(lambda item: order.append(("second", item)))
    listeners.publish(1)
    listeners.deliver()
    assert order == [("first", 1), ("second", 1), ("first", 2), ("second", 2)]
