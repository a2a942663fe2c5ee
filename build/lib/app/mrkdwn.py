"""Slack mrkdwn: every piece of text we did not write passes through `escape`, so a note
that says `<!channel>` never pings anyone."""


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"
