"""Alembic environment: runs migrations with the async engine of `headrace.store.db`."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from headrace.store.db import create_engine
from headrace.store.tables import Base
from headrace.store.tables.knowledge_index import INDEX_METADATA

config = context.config
target_metadata = [Base.metadata, INDEX_METADATA]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(config.attributes["url"], config.attributes.get("schema"))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


asyncio.run(_main())
