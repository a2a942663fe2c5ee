"""What `help` says: the commands grouped by what they do, and the mention forms. Kept
apart from the parsers so the words people read can change without touching them."""

from app.mrkdwn import escape

USAGE = escape("""\
*Act on PagerDuty incidents as yourself*
*Act*
`/incident ack <ref> [<ref> ...]` acknowledge (alias: `acknowledge`)
`/incident resolve <ref> [note ...]` resolve; the note becomes the resolution
`/incident escalate <ref> [level] [note ...]` escalate (default: the next level)
`/incident snooze <ref> <duration>` snooze: `30m`, `2h`, `1h30m`, `1d` (1 minute to 7 days)
*Change*
`/incident reassign <ref> <@user | email | policy>` to a person, or to an escalation policy
`/incident priority <ref> <priority>` one of the account's priorities (`P1`, `SEV-2`)
`/incident urgency <ref> high|low`
`/incident title <ref> <new title ...>` rename
`/incident bridge <ref> <https url> [dial-in number]` the conference bridge
`/incident merge <ref> [<ref> ...] into <ref>` merge the first incidents into the last
*Around the incident*
`/incident note <ref> <text ...>` add a note
`/incident show <ref>` post the incident's card, with buttons, in this channel
`/incident whoami` which PagerDuty user you act as
*Around the incident*
`/incident oncall [<policy | service>]` who is on call now (default: this channel's services)
`/incident mine` your open incidents, to you alone · `/incident ack mine` acknowledge them all
`/incident page <ref> <@user | policy> [...] [message ...]` ask them to join as responders
`/incident update <ref> <message ...>` a status update to the incident's subscribers
`/incident trigger <service> <title ...>` open an incident on that service, as you
`<ref>` is `123`, `#123`, an incident id like `PT4KHLK`, or its PagerDuty link.
`<policy>` / `<service>`: its id or exact name; quote a name with spaces: `"SRE primary"`.""")

MENTION_USAGE = escape("""\
*Mention me in an incident card's thread* (no incident number needed):
`@incident-bot ack` · `resolve [note]` · `escalate [level] [note]` · `reassign @user`
· `snooze 2h` · `priority P1` · `urgency low` · `title <text>` · `bridge <url>`
· `note <text>` · `page @user [message]` · `update <text>` · `whoami` · `help`
Anywhere: `oncall [name]` · `mine` · `ack mine` · `trigger <service> <title>`.
A mention that names an incident acts on it, even in a card's thread (`resolve 456`);
there a number right after `escalate` is its level: `escalate 2` · `escalate #456 2`.
Anywhere else, name the incident: `@incident-bot escalate 123`.""")
