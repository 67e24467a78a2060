"""Vector stores: the `VectorStore` contract, the embedded store and the Qdrant store.

`EmbeddedVectorStore` (database rows + usearch index files) is the default;
`headrace.knowledge.vectorstores.qdrant.QdrantVectorStore` needs `qdrant-client`.
"""

from headrace.knowledge.vectorstores.base import Filter, Hit, VectorItem, VectorStore
from headrace.knowledge.vectorstores.embedded import EmbeddedVectorStore

__all__ = ["EmbeddedVectorStore", "Filter", "Hit", "VectorItem", "VectorStore"]
