from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from app.store import Store


@pytest.fixture
async def audit(settings: Settings) -> AsyncIterator[Store]:
    """The store the bot under test writes its audit trail to."""
    store = Store(settings.database_url)
    await store.open()
    yield store
    await store.close()
