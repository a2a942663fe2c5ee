"""The text of a message whose content lives in its blocks, as the mrkdwn its `text` would
hold: the shapes Slack's rich-text docs show, and escaping for any typed text."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.mrkdwn import text_of_blocks


def rich(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "rich_text", "block_id": "r", "elements": list(elements)}]


def section(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "rich_text_section", "elements": list(parts)}


def text(value: str, **style: bool) -> dict[str, Any]:
    return {"type": "text", "text": value, **({"style": style} if style else {})}


def test_lists_quotes_links_and_mentions_render_as_slack_writes_them() -> None:
    blocks = rich(
        section(text("see "), {"type": "link", "url": "https://status.example.com", "text": "it"}),
        {
            "type": "rich_text_list",
            "style": "bullet",
            "elements": [
                section(text("db", bold=True)),
                section({"type": "channel", "channel_id": "C0INCIDENTS"}),
            ],
        },
        {"type": "rich_text_quote", "elements": [text("line one\nline two")]},
        section({"type": "usergroup", "usergroup_id": "S0SRE"}, {"type": "emoji", "name": "fire"}),
    )
    assert text_of_blocks(blocks) == (
        "see <https://status.example.com|it>\n"
        "• *db*\n• <#C0INCIDENTS>\n"
        "> line one\n> line two\n"
        "<!subteam^S0SRE>:fire:"
    )


def test_section_header_and_context_text_is_read_and_plain_text_escaped() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Deploy <failed>"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*api* &amp; workers"},
            "fields": [{"type": "plain_text", "text": "a & b"}],
        },
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "by bot"}, {"type": "image"}]},
    ]
    assert text_of_blocks(blocks) == (
        "Deploy &lt;failed&gt;\n*api* &amp; workers\na &amp; b\nby bot"
    )


def test_blocks_with_nothing_written_have_no_text() -> None:
    assert text_of_blocks([{"type": "divider"}, {"type": "image"}]) == ""
    assert text_of_blocks([]) == ""


@given(st.lists(st.text(), max_size=5))
def test_whatever_was_typed_comes_out_escaped(typed: list[str]) -> None:
    rendered = text_of_blocks(rich(section(*(text(value) for value in typed))))
    assert "<" not in rendered
    assert ">" not in rendered
    unescaped = rendered.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == "".join(typed).strip()
