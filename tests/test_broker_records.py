"""The `seq` channel's items between workers: several joined into one publish, in order."""

from __future__ import annotations

import pytest

broker = pytest.importorskip("campfire.realtime.broker")


def test_runs_of_items_are_joined_in_order_and_read_back():
    items = [("seq", broker.seq_record(n, "w1", f"room-{n}", b"x" * n)) for n in range(5)]
    items.insert(3, ("events", b"an event"))
    published = broker.coalesce(items, "seq")
    assert [channel for channel, _ in published] == ["seq", "events", "seq"]
    read = [list(broker.seq_records(data)) for channel, data in published if channel == "seq"]
    assert read == [
        [(n, "w1", f"room-{n}", b"x" * n) for n in range(3)],
        [(n, "w1", f"room-{n}", b"x" * n) for n in (3, 4)],
    ]


def test_a_joined_publish_stays_under_the_size_limit():
    big = b"{" + b"y" * (broker.JOINED_BYTES // 3) + b"}"
    items = [("seq", broker.seq_record(n, "w", "r", big)) for n in range(7)]
    published = broker.coalesce(items, "seq")
    assert all(len(data) <= broker.JOINED_BYTES for _, data in published)
    read = [item for _, data in published for item in broker.seq_records(data)]
    assert [seq for seq, *_ in read] == list(range(7))
    assert all(payload == big for *_, payload in read)
