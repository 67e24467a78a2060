"""Knowledge benchmarks (issue 6): indexing throughput (segments/s) through the real pipeline,
and, for the embedded store and Qdrant local mode, retrieval latency p50/p99 and recall@10
against exact search measured in the same run (numpy brute force over the same vectors).

Two kinds of vectors, 384 dimensions (all-MiniLM-L6-v2's size):
- `random`: random unit vectors, spread evenly over the sphere: the worst case for HNSW.
- `minilm`: real all-MiniLM-L6-v2 embeddings of generated sentences (queries are generated
  questions): what a knowledge base holds. Embedding 100k sentences takes a few minutes on
  two cores, so the matrices are cached under `data/bench-cache/`.
Prints figures and ratios; asserts nothing.

    .venv/bin/python -m bench.bench_knowledge [--sizes 10000 100000] [--queries 200]
        [--data random minilm] [--stores embedded qdrant]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from headrace.apps.documents import DocumentOptions, add_document
from headrace.container import Container
from headrace.knowledge.vectorstores.base import VectorItem, VectorStore
from headrace.knowledge.vectorstores.embedded import EmbeddedVectorStore
from headrace.knowledge.vectorstores.qdrant import QdrantVectorStore
from headrace.settings import Settings
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.datasets import DatasetRepo
from headrace.store.tables import DatasetDocument

DIMS = 384
BATCH = 2000


def unit(rows: int, seed: int) -> np.ndarray:
    """Random unit vectors."""
    data = np.random.default_rng(seed).standard_normal((rows, DIMS)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def _words(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


SUBJECTS = _words("river lake glacier delta canyon reef forest desert valley volcano island marsh")
QUALITIES = _words("ancient frozen shallow muddy quiet vast narrow salty green rocky misty warm")
VERBS = _words("feeds drains floods shapes cools shelters erodes carries hides borders warms fills")
OBJECTS = _words("farms towns wetlands harbours meadows cliffs caves villages roads vineyards")
PLACES = _words("in spring|after storms|at dawn|every winter|during droughts|near the coast", "|")


def sentence(rng: np.random.Generator, question: bool) -> str:
    """One generated sentence (or question) about landscapes, with an identifying number."""

    def pick(words: list[str]) -> str:
        return words[int(rng.integers(len(words)))]

    if question:
        return f"Which {pick(SUBJECTS)} {pick(VERBS)} the {pick(OBJECTS)} {pick(PLACES)}?"
    return (
        f"The {pick(QUALITIES)} {pick(SUBJECTS)} {pick(VERBS)} the {pick(QUALITIES)} "
        f"{pick(OBJECTS)} {pick(PLACES)}, record {int(rng.integers(1_000_000))}."
    )


def minilm(rows: int, seed: int, question: bool) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of generated sentences, cached on disk."""
    cache = Path("data/bench-cache") / f"minilm-{rows}-{seed}-{int(question)}.npy"
    if cache.exists():
        return np.load(cache)
    from headrace.providers.local_embeddings import _sentence_transformers, bundled_model_path

    rng = np.random.default_rng(seed)
    texts = [sentence(rng, question) for _ in range(rows)]
    model = _sentence_transformers().SentenceTransformer(str(bundled_model_path()), device="cpu")
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=256, normalize_embeddings=True)
    print(f"  (embedded {rows:,} sentences in {time.perf_counter() - started:.0f} s)")
    matrix = np.asarray(vectors, dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, matrix)
    return matrix


def dataset(kind: str, rows: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, queries) of one kind."""
    if kind == "random":
        return unit(rows, 1), unit(queries, 2)
    return minilm(rows, 1, question=False), minilm(queries, 2, question=True)


async def fill(store: VectorStore, vectors: np.ndarray) -> float:
    """Insert every vector; returns seconds."""
    started = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        items = [
            VectorItem(str(start + i), row.tolist(), {"document_id": str((start + i) % 50)})
            for i, row in enumerate(vectors[start : start + BATCH])
        ]
        await store.upsert("bench", items)
    return time.perf_counter() - started


async def measure(
    store: VectorStore, vectors: np.ndarray, queries: np.ndarray
) -> tuple[list[float], float]:
    """Search latencies and recall@10 against exact cosine search."""
    latencies: list[float] = []
    found = 0
    exact_top = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    for query, truth in zip(queries, exact_top, strict=True):
        started = time.perf_counter()
        hits = await store.search("bench", query.tolist(), 10)
        latencies.append(time.perf_counter() - started)
        found += len({int(h.id) for h in hits} & {int(t) for t in truth})
    return latencies, found / (10 * len(queries))


def exact_latencies(vectors: np.ndarray, queries: np.ndarray) -> list[float]:
    """The baseline: brute-force numpy top-10 per query."""
    times = []
    for query in queries:
        started = time.perf_counter()
        scores = vectors @ query
        np.argpartition(-scores, 10)[:10]
        times.append(time.perf_counter() - started)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def indexing_throughput(tmp: Path, paragraphs: int) -> tuple[int, float]:
    """Segments/s of the whole pipeline (economy: extract, clean, split, store, keyword index)."""
    container = Container.build(Settings(data_dir=tmp / "pipeline", log_level="WARNING"))
    await container.start()
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
        dataset = await DatasetRepo(session).create(workspace_id=workspace.id, name="bench")
    text = "\n\n".join(
        f"Paragraph {i} about rivers, lakes and the sea number {i}." for i in range(paragraphs)
    )
    rule = {
        "mode": "custom",
        "rules": {
            "pre_processing_rules": [],
            "segmentation": {"separator": "\\n\\n", "max_tokens": 100, "chunk_overlap": 0},
        },
    }
    started = time.perf_counter()
    document, _ = await add_document(
        container,
        dataset,
        "bench.txt",
        text.encode(),
        "txt",
        "text/plain",
        DocumentOptions(indexing_technique="economy", process_rule=rule),
    )
    while True:
        async with container.db.session() as session:
            row = await session.get(DatasetDocument, document.id)
        if row is not None and row.indexing_status in ("completed", "error"):
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await container.aclose()
    return paragraphs, elapsed


async def main(
    sizes: list[int], queries_count: int, kinds: list[str], store_names: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        segments, seconds = await indexing_throughput(tmp, 10_000)
        rate = segments / seconds
        print(
            f"indexing pipeline (economy): {segments} segments in {seconds:.2f} s = {rate:,.0f}/s"
        )
        for kind, size in [(k, n) for k in kinds for n in sizes]:
            vectors, queries = dataset(kind, size, queries_count)
            baseline = exact_latencies(vectors, queries)
            exact_p50, exact_p99 = pct(baseline, 0.5), pct(baseline, 0.99)
            print(
                f"\n{size:,} {kind} vectors: exact top-10 p50 {exact_p50:.2f} ms"
                f"  p99 {exact_p99:.2f} ms"
            )
            where = tmp / f"{kind}{size}"
            container = Container.build(Settings(data_dir=where, log_level="WARNING"))
            await container.start()
            stores: list[tuple[str, VectorStore]] = []
            if "embedded" in store_names:
                store = EmbeddedVectorStore(container.db, where / "index")
                stores.append(("embedded (usearch + SQLite)", store))
            if "qdrant" in store_names:
                stores.append(("qdrant local mode", QdrantVectorStore(path=str(where / "qdrant"))))
            for name, store in stores:
                insert = await fill(store, vectors)
                await store.search("bench", queries[0].tolist(), 10)  # builds/loads the index
                latencies, recall = await measure(store, vectors, queries)
                p50 = pct(latencies, 0.5)
                ratio = p50 / max(exact_p50, 1e-6)
                print(
                    f"  {name:<28} insert {size / insert:8,.0f}/s   p50 {p50:7.2f} ms"
                    f" (x{ratio:5.2f} exact)   p99 {pct(latencies, 0.99):7.2f} ms"
                    f"   recall@10 {recall:.3f}   (targets: p50 <= 5 ms, recall >= 0.95)"
                )
                await store.aclose()
            await container.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="knowledge benchmarks")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", nargs="+", choices=["random", "minilm"], default=["random"])
    parser.add_argument(
        "--stores", nargs="+", choices=["embedded", "qdrant"], default=["embedded", "qdrant"]
    )
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.queries, args.data, args.stores))
