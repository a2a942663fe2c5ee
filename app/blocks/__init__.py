"""Block Kit, as pure builders (no Slack client), so every message and modal can be checked
against Slack's limits without a server: `card` (the incident card and its button
values), `modals` (Resolve, Reassign, Escalate), `menu_modals` (the card's More menu),
`around` (on-call answers, your incidents, paging on-call), `parts` (what they share)."""
