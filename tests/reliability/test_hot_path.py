"""What a warm bot repeats for every request must not grow with the requests: imports and
connections. Python does not remember a failed import, so a lookup that fails on every
request (as httpcore's for sniffio did, encode/httpcore#1103) searches every path entry
each time; a connection per Slack call is a TLS handshake per call in production."""

import importlib.abc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from app.demo.slack import SlackStandIn
from app.ids import ActionId
from tests.conftest import Bot, show_card


class _ImportRecorder(importlib.abc.MetaPathFinder):
    """Sees every import that sys.modules cannot answer; finds nothing itself."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, *_: object) -> None:
        self.names.append(name)


@contextmanager
def imports_seen() -> Iterator[list[str]]:
    recorder = _ImportRecorder()
    sys.meta_path.insert(0, recorder)
    try:
        yield recorder.names
    finally:
        sys.meta_path.remove(recorder)


async def test_a_second_command_and_click_import_nothing(bot: Bot, slack: SlackStandIn) -> None:
    await bot.reply_to("note 123 first")
    card = await show_card(bot, slack)
    await bot.click(card, ActionId.ACKNOWLEDGE)
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) >= 1)
    with imports_seen() as names:
        [reply] = await bot.reply_to("note 123 second")
        await bot.click(card, ActionId.ACKNOWLEDGE)
        await slack.wait_for(lambda s: "already acknowledged" in s.responses[-1]["text"])
    assert "second" in reply["text"]
    assert names == []


async def test_slack_web_api_calls_and_answers_share_kept_alive_connections(
    bot: Bot, slack: SlackStandIn
) -> None:
    """Answers to commands go to their response_url, Slack's other host."""
    card = await show_card(bot, slack)
    for text in ("note 123 one", "note 123 two", "note 123 three"):
        await bot.reply_to(text)
    await bot.click(card, ActionId.ACKNOWLEDGE)
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) >= 4)
    calls = [call for call in slack.calls if call.method.startswith("chat.")]
    assert len(calls) >= 8
    assert len({call.peer for call in calls}) <= 2  # one, or two where calls overlapped
    assert len(slack.hook_peers) >= 3
    assert len(set(slack.hook_peers)) <= 2
