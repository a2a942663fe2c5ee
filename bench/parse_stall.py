"""The longest event-loop stall while hostile 40,000-character words are parsed: a ticker
task records the widest gap between its ticks while every grammar path runs on the loop,
as the bot runs it."""

import asyncio
import contextlib
import time

from app.errors import UsageError
from app.incidents.grammar import Verb, parse_command, parse_mention, without_mention_of

PARSE_STALL_LIMIT_MS = 50.0
_WORDS = [
    "a@" + "." * 40_000 + "@",
    "<@U0INCBOT1|" * 3_300,
    "9" * 40_000,
    "<https://" + "a" * 40_000,
    "P" * 40_000,
    "&amp;" * 8_000,
]


def _texts() -> list[str]:
    verbs = [str(verb) for verb in Verb]
    return [
        template.format(v=verb, w=word)
        for word in _WORDS
        for verb in verbs
        for template in ("{v} {w}", "{v} 123 {w}", "{v} 123 level {w}")
    ]


async def longest_parse_stall_ms() -> float:
    widest = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal widest
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            widest, last = max(widest, now - last), now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    for text in _texts():
        for parse in (
            parse_command,
            lambda t: parse_mention(without_mention_of("U0INCBOT1", t), None),
            lambda t: parse_mention(t, "PT4KHLK"),
        ):
            with contextlib.suppress(UsageError):
                parse(text)
            await asyncio.sleep(0)  # one parse per loop turn, as one event is handled
    stop.set()
    await ticking
    return round(widest * 1000, 1)
