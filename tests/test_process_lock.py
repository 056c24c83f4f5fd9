"""Workers writing one SQLite file take turns through a lock of their own (db.ProcessLock)."""

from __future__ import annotations

import asyncio

import pytest

from campfire.db import Database


@pytest.fixture
async def two_writers(tmp_path):
    """Two Database objects on one file, as two workers have (each its own lock file handle:
    flock locks belong to an open file, so these exclude each other like two processes)."""
    first, second = (
        Database(tmp_path / "c.db", shared=True),
        Database(tmp_path / "c.db", shared=True),
    )
    await first.open()
    await second.open()
    yield first, second
    await second.close()
    await first.close()


async def test_a_write_waits_for_the_other_process_and_then_goes_at_once(two_writers):
    first, second = two_writers
    order = []
    async with first.transaction() as conn:
        await conn.execute("CREATE TABLE t (x)")

        async def other() -> None:
            async with second.transaction() as conn2:
                order.append("second writes")
                await conn2.execute("INSERT INTO t VALUES (2)")

        waiting = asyncio.create_task(other())
        await asyncio.sleep(0.2)  # the other writer is waiting on the lock, not on SQLite
        assert not waiting.done()
        order.append("first commits")
    await asyncio.wait_for(waiting, 1)
    assert order == ["first commits", "second writes"]
    assert (await first.fetchone("SELECT count(*) FROM t"))[0] == 1
    assert (tmp := first.path.with_name("c.db-writelock")).exists(), tmp


async def test_a_cancelled_waiter_does_not_keep_the_lock(two_writers):
    first, second = two_writers
    async with first.transaction() as conn:
        await conn.execute("CREATE TABLE t (x)")

        async def other() -> None:
            async with second.transaction():
                pass

        waiting = asyncio.create_task(other())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    await asyncio.sleep(0.1)  # the waiting thread took the lock as it was freed, and let go
    async with asyncio.timeout(2):
        async with first.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (1)")
        async with second.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (2)")


async def test_one_process_takes_no_lock_file(tmp_path):
    db = Database(tmp_path / "c.db")
    await db.open()
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x)")
    await db.close()
    assert not (tmp_path / "c.db-writelock").exists()
