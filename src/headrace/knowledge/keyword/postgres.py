"""Keyword index on PostgreSQL full-text search, ranked by `ts_rank_cd`.

The GIN index `ix_knowledge_keyword_entries_tsv` on `to_tsvector('simple', terms)` (declared
with the table) serves `@@` queries: any of the query's terms, inside the collection. The
`simple` configuration only lower-cases, so the terms `tokenize` made (CJK bigrams included)
are the lexemes. Relevance is `ts_rank_cd(..., 1)`: cover density over the matched terms,
divided by 1 + log(document length); PostgreSQL weighs no term by its rarity, unlike BM25.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.knowledge.keyword.common import KE, SqlKeywordIndex

CONFIG: Any = literal_column("'simple'")  # inline, so the expression matches the index's


def document_vector() -> Any:
    """`to_tsvector('simple', terms)`, the indexed expression."""
    return func.to_tsvector(CONFIG, KE.terms)


def tsquery_text(terms: list[str]) -> str:
    """The `to_tsquery` input: any of the terms (each quoted as one operand)."""
    return " | ".join(f"'{term}'" for term in terms)


class PostgresKeywordIndex(SqlKeywordIndex):
    """`KeywordIndex` on PostgreSQL `tsvector` search with a GIN index."""

    dialect = "postgresql"

    async def _ranked(
        self,
        session: AsyncSession,
        collection: str,
        terms: list[str],
        top_k: int,
        condition: Any,
    ) -> list[tuple[str, dict[str, Any], float]]:
        """Matches by `ts_rank_cd` with length normalisation."""
        vector = document_vector()
        query = func.to_tsquery(CONFIG, tsquery_text(terms))
        rank = func.ts_rank_cd(vector, query, 1)
        statement = (
            select(KE.id, KE.payload, rank)
            .where(KE.collection == collection, vector.op("@@")(query), condition)
            .order_by(rank.desc(), KE.id)
            .limit(top_k)
        )
        rows = await session.execute(statement)
        return [(item_id, payload, max(0.0, float(score))) for item_id, payload, score in rows]
