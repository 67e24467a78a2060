"""Knowledge bases: ingestion, splitting, indexing, retrieval."""
