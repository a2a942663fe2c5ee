"""State about cards that every replica must agree on, and that survives restarts (issue 15):
what each card message shows (a digest, to skip redraws), each incident's last action and
latest status update, the actions we just took (to recognise their webhooks as echoes), and
intents to post a card (so a crash between posting and recording never posts a second card).

`Store` inherits these; the plumbing they read and write through is `StorePlumbing`'s.
"""

from datetime import timedelta

from app.store.databases import Row, placeholders, utc
from app.store.group_commit import GroupCommit
from app.store.plumbing import StorePlumbing, utc_now
from app.store.records import CardRef, LastAction, PostDecision, PostTurn, PublishedUpdate

# The incidents that have a card still open.
WITH_OPEN_CARDS = "SELECT incident_id FROM cards WHERE closed = FALSE"

# Status updates: the stored row (`status_updates.`) and the one told (`excluded.`) are the
# same update if PagerDuty's ids match or, where one lacks an id, the messages do.
SAME_UPDATE = (
    "((status_updates.update_id != '' AND status_updates.update_id = excluded.update_id)"
    " OR ((status_updates.update_id = '' OR excluded.update_id = '')"
    " AND status_updates.message = excluded.message))"
)
FULLER = "length(excluded.message) > length(status_updates.message)"
EARLIER = "excluded.created_at < status_updates.created_at"


class SharedCardState(StorePlumbing):
    def __init__(self) -> None:
        super().__init__()
        self._noting = GroupCommit(self._note_own_actions)

    # -- digests: what a card message shows, to skip a redraw that would change nothing

    async def card_digest(self, card: CardRef) -> str | None:
        rows = await self._rows(
            "SELECT digest FROM card_digests WHERE channel = ? AND ts = ?", [card.channel, card.ts]
        )
        return str(rows[0]["digest"]) if rows else None

    async def open_card_digests(self) -> dict[CardRef, str]:
        """What every open card message shows, in one query: what a bulk reconcile compares
        each card with (instead of one read per card)."""
        rows = await self._rows(
            "SELECT d.channel, d.ts, d.digest FROM card_digests d JOIN cards c"
            " ON c.channel = d.channel AND c.ts = d.ts AND c.closed = FALSE"
        )
        return {CardRef(str(row["channel"]), str(row["ts"])): str(row["digest"]) for row in rows}

    async def set_card_digest(self, card: CardRef, digest: str) -> None:
        await self._count(
            "INSERT INTO card_digests (channel, ts, digest) VALUES (?, ?, ?) "
            "ON CONFLICT (channel, ts) DO UPDATE SET digest = excluded.digest",
            [card.channel, card.ts, digest],
        )

    # -- the card's last action

    async def last_action(self, incident_id: str) -> LastAction | None:
        rows = await self._rows(
            "SELECT actor, verb, detail, at FROM last_actions WHERE incident_id = ?", [incident_id]
        )
        return _last_action(rows[0]) if rows else None

    async def last_actions_with_open_cards(self) -> dict[str, LastAction]:
        """Every incident with an open card's last action, in one query (bulk reconcile)."""
        rows = await self._rows(
            "SELECT incident_id, actor, verb, detail, at FROM last_actions "
            f"WHERE incident_id IN ({WITH_OPEN_CARDS})"
        )
        return {str(row["incident_id"]): _last_action(row) for row in rows}

    async def record_own_action(self, incident_id: str, action: LastAction) -> None:
        """After our action, in one transaction: the incident's last action (kept unless a
        later one is stored already: webhooks arrive late) and, as `note_own_action`, that
        its webhook is our echo."""
        if action.at.tzinfo is None:
            raise ValueError("LastAction.at must be an aware datetime")
        async with self._transaction() as session:
            await session.count(
                "INSERT INTO last_actions (incident_id, actor, verb, detail, at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET "
                "actor = excluded.actor, verb = excluded.verb, detail = excluded.detail, "
                "at = excluded.at WHERE last_actions.at <= excluded.at",
                [incident_id, action.actor, action.verb, action.detail, action.at],
            )
            await session.count(*_own_action_upsert((incident_id, action.verb)))

    # -- the incident's latest status update

    async def latest_status_update(self, incident_id: str) -> PublishedUpdate | None:
        rows = await self._rows(
            "SELECT update_id, message, created_at FROM status_updates WHERE incident_id = ?",
            [incident_id],
        )
        return _published(rows[0]) if rows else None

    async def latest_status_updates_with_open_cards(self) -> dict[str, PublishedUpdate]:
        """Every incident with an open card's latest update, in one query: what a bulk
        reconcile draws with (instead of one read per card)."""
        rows = await self._rows(
            "SELECT incident_id, update_id, message, created_at FROM status_updates "
            f"WHERE incident_id IN ({WITH_OPEN_CARDS})"
        )
        return {str(row["incident_id"]): _published(row) for row in rows}

    async def record_status_update(self, incident_id: str, update: PublishedUpdate) -> bool:
        """Keep `update` if it is newer (by `created_at`) than the stored one; True if the
        stored update changed.

        The same update told twice (our post's answer and its webhook, in either order, or
        a redelivery) stays one entry, with its fullest message (a webhook may carry it
        trimmed) and earliest time (a webhook knows only when it occurred). It is the same
        if PagerDuty's ids match or, where one lacks an id, the messages do."""
        if update.created_at.tzinfo is None:
            raise ValueError("PublishedUpdate.created_at must be an aware datetime")
        changed = await self._count(
            "INSERT INTO status_updates (incident_id, update_id, message, created_at, recorded_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET"
            f" update_id = CASE WHEN {SAME_UPDATE} AND status_updates.update_id != ''"
            " THEN status_updates.update_id ELSE excluded.update_id END,"
            f" message = CASE WHEN {SAME_UPDATE} AND NOT {FULLER}"
            " THEN status_updates.message ELSE excluded.message END,"
            f" created_at = CASE WHEN {SAME_UPDATE} AND NOT {EARLIER}"
            " THEN status_updates.created_at ELSE excluded.created_at END,"
            " recorded_at = excluded.recorded_at"
            f" WHERE ({SAME_UPDATE} AND ({FULLER} OR {EARLIER}))"
            f" OR (NOT {SAME_UPDATE} AND excluded.created_at > status_updates.created_at)",
            [incident_id, update.update_id, update.message, update.created_at, utc_now()],
        )
        return changed == 1

    async def forget_status_updates(self, older_than: timedelta) -> int:
        """Drop updates recorded more than `older_than` ago of incidents with no open card
        (a card still open keeps its line however old); returns how many."""
        return await self._count(
            "DELETE FROM status_updates WHERE recorded_at < ? "
            f"AND incident_id NOT IN ({WITH_OPEN_CARDS})",
            [utc_now() - older_than],
        )

    # -- echo suppression: "we just did <verb> to this incident"

    async def note_own_action(self, incident_id: str, verb: str) -> None:
        """Record, before writing to PagerDuty, that we are doing `verb` to the incident.
        Notes taken together (a storm of notes waking on one shared read) share one
        transaction, so a command's claim never queues behind dozens of them."""
        await self._noting((incident_id, verb))

    async def _note_own_actions(self, actions: list[tuple[str, str]]) -> list[None]:
        await self._count(*_own_action_upsert(*dict.fromkeys(actions)))
        return [None] * len(actions)

    async def is_own_echo(self, incident_id: str, verb: str, window: timedelta) -> bool:
        """True if any replica noted `verb` on the incident within the last `window`."""
        rows = await self._rows(
            "SELECT at FROM own_actions WHERE incident_id = ? AND verb = ? AND at >= ?",
            [incident_id, verb, utc_now() - window],
        )
        return bool(rows)

    async def forget_own_actions(self, older_than: timedelta) -> int:
        """Drop notes older than `older_than`; returns how many."""
        return await self._count("DELETE FROM own_actions WHERE at < ?", [utc_now() - older_than])

    # -- intent to post: no second card after a crash between posting and recording

    async def begin_post(
        self, incident_id: str, channel: str, holder: str, lease: timedelta
    ) -> PostDecision:
        """Take the turn to post the incident's card in `channel`, for `lease`.

        POST: nobody tried before. RECOVER: an earlier try (ours or a crashed replica's)
        never completed; the card may be in the channel already, so look for it by its
        metadata and `complete_post` it if found. BUSY: another holder's try is live.
        POSTED: the card is recorded."""
        now = utc_now()
        async with self._transaction() as session:
            found = await session.rows(
                "SELECT ts FROM cards WHERE incident_id = ? AND channel = ?", [incident_id, channel]
            )
            if found:
                return PostDecision(PostTurn.POSTED, CardRef(channel, str(found[0]["ts"])))
            fresh = await session.count(
                "INSERT INTO post_intents (incident_id, channel, holder, started_at, lease_until)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [incident_id, channel, holder, now, now + lease],
            )
            if fresh == 1:
                return PostDecision(PostTurn.POST)
            retaken = await session.count(
                "UPDATE post_intents SET holder = ?, lease_until = ? "
                "WHERE incident_id = ? AND channel = ? AND (holder = ? OR lease_until <= ?)",
                [holder, now + lease, incident_id, channel, holder, now],
            )
            return PostDecision(PostTurn.RECOVER if retaken == 1 else PostTurn.BUSY)

    async def complete_post(self, incident_id: str, card: CardRef) -> bool:
        """Record the posted card and close its intent, in one transaction. False (and the
        stored card kept) if the incident already had a card in that channel."""
        async with self._transaction() as session:
            saved = await session.count(*new_card(incident_id, card)) == 1
            await session.count(
                "DELETE FROM post_intents WHERE incident_id = ? AND channel = ?",
                [incident_id, card.channel],
            )
            return saved

    async def abandon_post(self, incident_id: str, channel: str, holder: str) -> None:
        """Give the turn up when Slack surely posted nothing (it answered with an error)."""
        await self._count(
            "DELETE FROM post_intents WHERE incident_id = ? AND channel = ? AND holder = ?",
            [incident_id, channel, holder],
        )

    async def unfinished_posts(self) -> list[tuple[str, str]]:
        """(incident, channel) of every intent not completed, for a sweep at start-up."""
        rows = await self._rows("SELECT incident_id, channel FROM post_intents ORDER BY started_at")
        return [(str(row["incident_id"]), str(row["channel"])) for row in rows]


def new_card(incident_id: str, card: CardRef) -> tuple[str, list[object]]:
    """A statement inserting the card of (incident, channel), unless it has one."""
    return (
        "INSERT INTO cards (incident_id, channel, ts, closed) VALUES (?, ?, ?, FALSE) "
        "ON CONFLICT DO NOTHING",
        [incident_id, card.channel, card.ts],
    )


def _own_action_upsert(*actions: tuple[str, str]) -> tuple[str, list[object]]:
    """(incident id, verb) pairs, each at most once (one statement may not touch a row
    twice on PostgreSQL)."""
    now = utc_now()
    return (
        f"INSERT INTO own_actions (incident_id, verb, at) VALUES {placeholders(len(actions), 3)} "
        "ON CONFLICT (incident_id, verb) DO UPDATE SET at = excluded.at",
        [value for incident_id, verb in actions for value in (incident_id, verb, now)],
    )


def _last_action(row: Row) -> LastAction:
    return LastAction(row["actor"], row["verb"], row["detail"], utc(row["at"]))


def _published(row: Row) -> PublishedUpdate:
    return PublishedUpdate(str(row["message"]), utc(row["created_at"]), str(row["update_id"]))
