"""Group commit: writes that wait together go in one batch, and every caller gets its own
answer, its batch's failure, or nothing at all if it gave up."""

import asyncio

import pytest

from app.store.group_commit import GroupCommit


class Recorder:
    """A write that records its batches; `gate` holds the first one until opened."""

    def __init__(self, fail_on: str = "") -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail_on = fail_on

    async def write(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        if len(self.batches) == 1:
            await self.gate.wait()
        if self.fail_on in items:
            raise OSError("disk full")
        return [item.upper() for item in items]


async def queued_behind_a_first_write(
    group: GroupCommit[str, str], items: str
) -> tuple[asyncio.Task[str], list[asyncio.Task[str]]]:
    """A write of "a" (held at its recorder's gate), then one write per item of `items`,
    all waiting behind it."""
    first = asyncio.create_task(group("a"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(group(item)) for item in items]
    await asyncio.sleep(0)
    return first, rest


async def test_a_lone_write_goes_at_once_and_those_waiting_behind_it_go_together() -> None:
    recorder = Recorder()
    first, rest = await queued_behind_a_first_write(GroupCommit(recorder.write), "bcd")
    recorder.gate.set()

    assert await asyncio.gather(first, *rest) == ["A", "B", "C", "D"]
    assert recorder.batches == [["a"], ["b", "c", "d"]]


async def test_a_failed_batch_fails_its_callers_only() -> None:
    recorder = Recorder(fail_on="c")
    group = GroupCommit(recorder.write)
    first, failing = await queued_behind_a_first_write(group, "bc")
    recorder.gate.set()

    assert await first == "A"
    for task in failing:
        with pytest.raises(OSError, match="disk full"):
            await task
    assert await group("e") == "E"  # the next write starts afresh


async def test_a_caller_that_gives_up_leaves_the_batch_to_be_written_for_the_others() -> None:
    recorder = Recorder()
    first, [gone, staying] = await queued_behind_a_first_write(GroupCommit(recorder.write), "bc")
    gone.cancel()
    recorder.gate.set()

    assert await asyncio.gather(first, staying) == ["A", "C"]
    assert gone.cancelled()
    assert recorder.batches == [["a"], ["b", "c"]]
