"""The keyword index on SQLite FTS5 and on PostgreSQL full-text: ranking, CJK, filters, deletes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from headrace.knowledge.keyword import (
    KeywordDoc,
    KeywordIndex,
    PostgresKeywordIndex,
    SqliteKeywordIndex,
    keyword_index_for,
)
from headrace.knowledge.keyword.sqlite import fts5_available
from headrace.knowledge.keyword.tokenize import collection_term, document_terms
from headrace.knowledge.vectorstores.base import Filter
from headrace.store.db import Database
from headrace.store.tables.base import utcnow
from headrace.store.tables.knowledge_index import KeywordEntry
from tests.knowledge.test_vectorstore_contract import index_database


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with index_database(tmp_path, request.param) as database:
        yield database


@pytest.fixture
async def index(db: Database) -> AsyncIterator[KeywordIndex]:
    chosen = keyword_index_for(db)
    await chosen.ensure_schema()
    await chosen.ensure_schema()  # idempotent
    yield chosen
    await chosen.aclose()


DOCS = [
    KeywordDoc("en1", "The quick brown fox jumps over the lazy dog.", {"doc": "a", "n": 1}),
    KeywordDoc("en2", "A quick guide to brown bread; bread, bread and more bread.", {"doc": "a"}),
    KeywordDoc("en3", "Foxes are quick, clever animals. The fox is quick.", {"doc": "b", "n": 2}),
    KeywordDoc("zh1", "知识库是大语言模型应用的基础，检索增强生成依赖知识库。", {"doc": "c"}),
    KeywordDoc("zh2", "GPT模型可以回答问题，但需要检索。", {"doc": "c"}),
    KeywordDoc("ja1", "東京は日本の首都です。ナレッジベースを検索します。", {"doc": "d"}),
    KeywordDoc("fr1", "Une idée naïve: le Café de Flore à Paris.", {"doc": "e"}),
]


async def ids(
    index: KeywordIndex, query: str, top_k: int = 10, filter: Filter | None = None
) -> list[str]:
    return [hit.id for hit in await index.search("kb", query, top_k, filter)]


def test_this_sqlite_has_fts5() -> None:
    import sqlite3

    assert fts5_available(sqlite3.connect(":memory:"))


async def test_the_dialect_picks_the_index(db: Database) -> None:
    expected = SqliteKeywordIndex if db.is_sqlite else PostgresKeywordIndex
    assert isinstance(keyword_index_for(db), expected)
    other = PostgresKeywordIndex if db.is_sqlite else SqliteKeywordIndex
    with pytest.raises(ValueError):
        other(db)


async def test_ranking_and_normalised_scores(index: KeywordIndex) -> None:
    await index.add_many("kb", DOCS)
    hits = await index.search("kb", "quick fox", 10)
    assert [hit.id for hit in hits][:1] == ["en3"]  # both words, "quick" twice
    assert {hit.id for hit in hits} == {"en1", "en2", "en3"}
    assert hits[0].score == 1.0
    assert all(0.0 < hit.score <= 1.0 for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert hits[-1].id == "en2"  # "quick" alone, in a long text
    assert await ids(index, "quick fox", 1) == ["en3"]
    assert await ids(index, "bread") == ["en2"]
    assert await ids(index, "BROWN") == sorted(await ids(index, "brown"))
    assert await ids(index, "nothing matches this") == []
    assert await ids(index, "  ,;!? ") == []


async def test_query_syntax_is_not_interpreted(index: KeywordIndex) -> None:
    await index.add_many("kb", DOCS)
    for query in ['fox" OR "dog', "fox AND NOT dog*", "NEAR(fox dog)", "fox & !dog | (", "'fox'"]:
        assert "en1" in await ids(index, query)


async def test_cjk_text_is_searchable(index: KeywordIndex) -> None:
    await index.add_many("kb", DOCS)
    assert (await ids(index, "知识库"))[0] == "zh1"
    assert await ids(index, "检索增强") == ["zh1", "zh2"]  # zh1 has every bigram
    assert set(await ids(index, "检索")) == {"zh1", "zh2"}
    assert set(await ids(index, "模型")) == {"zh1", "zh2"}
    assert (await ids(index, "GPT模型"))[0] == "zh2"
    assert await ids(index, "gpt") == ["zh2"]
    assert await ids(index, "首都") == ["ja1"]
    assert await ids(index, "ナレッジ") == ["ja1"]
    assert await ids(index, "京") == ["ja1"]  # one character alone
    assert await ids(index, "天气预报") == []


async def test_case_width_and_diacritics_fold(index: KeywordIndex) -> None:
    await index.add_many("kb", DOCS)
    for query in ("naive", "NAÏVE", "cafe", "idee", "ｐａｒｉｓ"):
        assert await ids(index, query) == ["fr1"], query


async def test_filters(index: KeywordIndex) -> None:
    await index.add_many("kb", DOCS)
    assert set(await ids(index, "quick", filter={"doc": "a"})) == {"en1", "en2"}
    assert set(await ids(index, "quick", filter={"doc": ["b", "z"]})) == {"en3"}
    assert await ids(index, "quick", filter={"n": 2}) == ["en3"]
    assert await ids(index, "quick", filter={"n": "2"}) == []
    assert await ids(index, "quick", filter={"doc": []}) == []
    hits = await index.search("kb", "quick", 10, {"doc": "a", "n": 1})
    assert [(hit.id, hit.score, hit.payload) for hit in hits] == [
        ("en1", 1.0, {"doc": "a", "n": 1})
    ]


async def test_replace_delete_delete_where_and_drop(index: KeywordIndex) -> None:
    await index.add_many("kb", DOCS)
    await index.add("kb", "en1", "A completely different sentence about owls.", {"doc": "z"})
    assert "en1" not in await ids(index, "fox")
    assert await ids(index, "owls") == ["en1"]
    assert (await index.search("kb", "owls", 1))[0].payload == {"doc": "z"}
    await index.delete("kb", ["en3", "missing"])
    assert await ids(index, "fox") == []
    await index.delete_where("kb", "doc", ["c", "d"])
    assert await ids(index, "知识库 首都") == []
    assert await ids(index, "bread") == ["en2"]
    await index.drop("kb")
    assert await ids(index, "bread") == []
    await index.add("kb", "en2", "bread again")
    assert await ids(index, "bread") == ["en2"]


async def test_collections_are_separate(index: KeywordIndex) -> None:
    await index.add_many("kb", DOCS)
    await index.add("kb2", "en1", "a fox in another collection", {"doc": "x"})
    assert [hit.payload for hit in await index.search("kb2", "fox", 10)] == [{"doc": "x"}]
    assert set(await ids(index, "fox")) == {"en1", "en3"}
    await index.drop("kb2")
    assert set(await ids(index, "fox")) == {"en1", "en3"}


async def test_many_documents_and_repeated_ids(index: KeywordIndex) -> None:
    docs = [
        KeywordDoc(f"d{i}", f"item number {i} in the list {'rare' if i % 97 == 0 else ''}")
        for i in range(1000)
    ]
    await index.add_many("kb", [*docs, KeywordDoc("d5", "replaced rare")])
    assert set(await ids(index, "rare", 100)) == {
        "d0",
        "d97",
        "d194",
        "d291",
        "d388",
        "d485",
        "d5",
        "d582",
        "d679",
        "d776",
        "d873",
        "d970",
    }
    assert len(await ids(index, "item", 2000)) == 999
    await index.delete("kb", [f"d{i}" for i in range(0, 1000, 2)])
    assert len(await ids(index, "item", 2000)) == 499


async def test_entries_written_before_the_fts_table_are_indexed(tmp_path: Path) -> None:
    async with index_database(tmp_path, "sqlite") as db:
        async with db.session() as session:
            await session.execute(
                insert(KeywordEntry).values(
                    collection="kb",
                    id="old",
                    text="legacy text",
                    terms=" ".join([collection_term("kb"), *document_terms("legacy text")]),
                    payload={},
                    updated_at=utcnow(),
                )
            )
        index = SqliteKeywordIndex(db)
        await index.ensure_schema()
        assert [hit.id for hit in await index.search("kb", "legacy", 5)] == ["old"]
        async with db.session() as session:  # direct writes reach FTS through the triggers
            await session.execute(text("DELETE FROM knowledge_keyword_entries"))
        assert await index.search("kb", "legacy", 5) == []
