"""Metadata filter conditions on document metadata."""

from __future__ import annotations

from headrace.knowledge.metadata_filter import metadata_matches

DOC = {"region": "alps", "year": 2021, "published": "2024-05-01T00:00:00"}


def test_string_number_and_time_conditions() -> None:
    def one(name: str, operator: str, value: object) -> bool:
        return metadata_matches(
            DOC, {"conditions": [{"name": name, "comparison_operator": operator, "value": value}]}
        )

    assert one("region", "is", "alps") and not one("region", "is", "andes")
    assert one("region", "contains", "lp") and one("region", "start with", "al")
    assert one("year", ">", "2020") and not one("year", "<", 2000) and one("year", "=", "2021")
    assert one("published", "after", "2024-01-01T00:00:00") and one(
        "published", "before", "2025-01-01"
    )
    assert one("missing", "empty", None) and not one("missing", "is", "x")


def test_logical_operators() -> None:
    both = [
        {"name": "region", "comparison_operator": "is", "value": "alps"},
        {"name": "year", "comparison_operator": ">", "value": "2030"},
    ]
    assert not metadata_matches(DOC, {"logical_operator": "and", "conditions": both})
    assert metadata_matches(DOC, {"logical_operator": "or", "conditions": both})
    assert metadata_matches(DOC, None) and metadata_matches(DOC, {"conditions": []})
