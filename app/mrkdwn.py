"""Slack mrkdwn: every piece of text we did not write passes through `escape`, so a note
that says `<!channel>` never pings anyone."""

from typing import Any


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"


_STYLE_MARKS = (("code", "`"), ("bold", "*"), ("italic", "_"), ("strike", "~"))


def text_of_blocks(blocks: list[dict[str, Any]]) -> str:
    """A message's content as the mrkdwn its `text` would hold (escaped, `<@U…>` for
    mentions), for messages whose `text` is empty and whose blocks carry what was written:
    rich text (sections, lists, quotes, code) and section/header/context text."""
    return "\n".join(filter(None, (_text_of_block(block) for block in blocks))).strip()


def _text_of_block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "rich_text":
        parts = (_text_of_rich(element).rstrip("\n") for element in block.get("elements") or [])
        return "\n".join(parts)
    if kind in ("section", "header"):
        texts = [block.get("text") or {}, *(block.get("fields") or [])]
        return "\n".join(_plain_or_mrkdwn(text) for text in texts if text.get("text"))
    if kind == "context":
        return " ".join(_plain_or_mrkdwn(e) for e in block.get("elements") or [] if "text" in e)
    return ""


def _plain_or_mrkdwn(text: dict[str, Any]) -> str:
    value = str(text.get("text") or "")
    return value if text.get("type") == "mrkdwn" else escape(value)


def _text_of_rich(element: dict[str, Any]) -> str:
    kind = element.get("type")
    inner = element.get("elements") or []
    if kind == "rich_text_list":
        bullet = "1." if element.get("style") == "ordered" else "•"
        return "\n".join(f"{bullet} {_text_of_rich(item)}" for item in inner)
    text = "".join(_text_of_inline(part) for part in inner)
    if kind == "rich_text_preformatted":
        return f"```{text}```"
    if kind == "rich_text_quote":
        return "\n".join(f"> {line}" for line in text.split("\n"))
    return text


def _text_of_inline(part: dict[str, Any]) -> str:
    kind = part.get("type")
    if kind == "text":
        text = escape(str(part.get("text") or ""))
        style = part.get("style") or {}
        for name, mark in _STYLE_MARKS:
            if style.get(name) and text.strip():
                text = f"{mark}{text}{mark}"
        return text
    if kind == "link":
        url = str(part.get("url") or "")
        return f"<{url}|{escape(part['text'])}>" if part.get("text") else f"<{url}>"
    if kind == "user":
        return f"<@{part.get('user_id', '')}>"
    if kind == "usergroup":
        return f"<!subteam^{part.get('usergroup_id', '')}>"
    if kind == "channel":
        return f"<#{part.get('channel_id', '')}>"
    if kind == "emoji":
        return f":{part.get('name', '')}:"
    if kind == "broadcast":
        return f"<!{part.get('range', 'here')}>"
    return ""
