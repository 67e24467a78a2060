"""Conformance over the shared corpus of real Dify exports, read in place (never copied).

For every file: normalize (idempotently) → validate (passes, or is refused with the one-line
later-issue message) → export → load the YAML → normalize → the executable graph (nodes by id
with their data, edges by (source, sourceHandle, target)) or the easy-UI `model_config` is
unchanged. The summary test prints imported / refused-by-later-issue / failed counts.
"""

from __future__ import annotations

import collections
import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from headrace.dsl.export import ExportSource, export_document
from headrace.dsl.loader import DslError
from headrace.dsl.node_types import LATER, UnsupportedNodeError
from headrace.dsl.normalize import GRAPH_MODES, normalize
from headrace.dsl.validate import validate_graph

CORPUS = Path(
    os.environ.get(
        "HEADRACE_DSL_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "dsl-corpus"
    )
)
MANIFEST = CORPUS / "MANIFEST.tsv"

pytestmark = pytest.mark.skipif(
    not MANIFEST.is_file(),
    reason=f"DSL corpus not found at {CORPUS} (set HEADRACE_DSL_CORPUS to its directory)",
)


def _manifest() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = {row["file"]: row for row in _manifest()}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same data as safe_load, faster


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


@dataclass
class Outcome:
    """What happened to one corpus file."""

    mode: str
    status: str  # "imported" | "refused" | "failed"
    detail: str = ""


def _executable_graph(document: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    graph = document["workflow"]["graph"]
    nodes = {node["id"]: node["data"] for node in graph["nodes"]}
    edges = sorted((e["source"], e["sourceHandle"], e["target"]) for e in graph["edges"])
    return nodes, edges


def _validate(document: dict[str, Any]) -> str:
    """ "imported" or "refused"; a plain `DslError` propagates as a failure."""
    try:
        validate_graph(document)
    except UnsupportedNodeError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert message.startswith(f"node {exc.node_id} ({exc.node_type}): "), message
        assert exc.node_type in LATER
        return "refused"
    return "imported"


def _check(name: str) -> Outcome:
    raw = _load((CORPUS / name).read_text(encoding="utf-8"))
    mode = raw["app"]["mode"]
    canonical = normalize(raw)
    assert normalize(canonical) == canonical, "normalize is not idempotent"
    status = _validate(canonical)
    text = export_document(ExportSource.from_document(canonical))
    again = normalize(_load(text))
    assert _validate(again) == status, "validation changed after the round trip"
    if mode in GRAPH_MODES:
        assert _executable_graph(again) == _executable_graph(canonical)
    else:
        assert again["model_config"] == canonical["model_config"]
    source = ExportSource.from_document(canonical)
    full = normalize(_load(export_document(source, include_secrets=True)))
    assert {k: v for k, v in full.items() if k != "version"} == {
        k: v for k, v in canonical.items() if k != "version"
    }
    return Outcome(mode, status)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    """Every manifest file checked once."""
    results: dict[str, Outcome] = {}
    for name, row in ROWS.items():
        try:
            results[name] = _check(name)
        except (AssertionError, DslError, KeyError, TypeError, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
            results[name] = Outcome(row["app_mode"], "failed", detail)
    return results


@pytest.mark.parametrize("name", sorted(ROWS))
def test_corpus_file(name: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[name]
    assert outcome.status != "failed", f"{name}: {outcome.detail}"
    row = ROWS[name]
    later = sorted(set(row["node_types"].split(",")) & set(LATER))
    # Refused exactly when the manifest lists a node type of a later issue.
    assert (outcome.status == "refused") == bool(later), (name, later)
    if row["executable_without_external"] == "yes":
        assert outcome.status == "imported"


def test_corpus_summary(outcomes: dict[str, Outcome], capsys: pytest.CaptureFixture[str]) -> None:
    counts = collections.Counter(outcome.status for outcome in outcomes.values())
    by_mode = collections.Counter((o.mode, o.status) for o in outcomes.values())
    lines = [
        f"DSL corpus {CORPUS}: {len(outcomes)} files, imported {counts['imported']}, "
        f"refused by a later issue {counts['refused']}, failed {counts['failed']}",
        *(f"  {mode:14} {status:9} {n}" for (mode, status), n in sorted(by_mode.items())),
        *(f"  FAILED {name}: {o.detail}" for name, o in outcomes.items() if o.status == "failed"),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(outcomes) == 60
    assert counts["failed"] == 0, "\n".join(lines)
