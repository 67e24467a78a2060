"""Workflow engine benchmarks (issue 4), in process with persistence on (a SQLite file):

1. overhead per node: a chain of 50 template-transform nodes vs a start→end run;
2. fixed cost of a run: start→end, validation + run row + events + persistence;
3. parallel fan-out: 10 branches of ~100 ms LLM nodes vs one such branch.

Model calls go to the benchmarks' upstream (`bench/upstream.py`) in its own process
(`--delay-first 0.1`). Prints figures and ratios against baselines measured in the same run;
asserts nothing.

    .venv/bin/python -m bench.bench_engine [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from headrace.admin import configure_provider, import_app
from headrace.apps.workflow_run import WorkflowService
from headrace.container import Container
from headrace.settings import Settings
from headrace.store.repos.end_users import EndUserRepo


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _node(node_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "data": {"title": node_id, **data}}


def chain(length: int) -> dict[str, Any]:
    """start → t0 → … → t{length-1} → end."""
    nodes = [_node("start", {"type": "start", "variables": []})]
    edges, previous = [], "start"
    for index in range(length):
        source = ["start", "sys.user_id"] if previous == "start" else [previous, "output"]
        nodes.append(
            _node(
                f"t{index}",
                {
                    "type": "template-transform",
                    "template": "{{ x }}.",
                    "variables": [{"variable": "x", "value_selector": source}],
                },
            )
        )
        edges.append({"source": previous, "target": f"t{index}"})
        previous = f"t{index}"
    output = [previous, "output"] if length else ["sys", "user_id"]
    nodes.append(
        _node("end", {"type": "end", "outputs": [{"variable": "o", "value_selector": output}]})
    )
    edges.append({"source": previous, "target": "end"})
    return {"nodes": nodes, "edges": edges}


def fan_out(width: int) -> dict[str, Any]:
    """start → `width` LLM nodes in parallel → end (joins every branch)."""
    llm = {
        "type": "llm",
        "model": {
            "provider": "openai",
            "name": "gpt-4o-mini",
            "mode": "chat",
            "completion_params": {},
        },
        "prompt_template": [{"role": "user", "text": "hi"}],
        "context": {"enabled": False},
    }
    nodes = [_node("start", {"type": "start", "variables": []})]
    edges = []
    outputs = []
    for index in range(width):
        nodes.append(_node(f"l{index}", llm))
        edges.append({"source": "start", "target": f"l{index}"})
        edges.append({"source": f"l{index}", "target": "end"})
        outputs.append({"variable": f"o{index}", "value_selector": [f"l{index}", "text"]})
    nodes.append(_node("end", {"type": "end", "outputs": outputs}))
    return {"nodes": nodes, "edges": edges}


def document(graph: dict[str, Any], name: str) -> str:
    return yaml.safe_dump(
        {
            "version": "0.6.0",
            "kind": "app",
            "app": {"mode": "workflow", "name": name},
            "workflow": {"graph": graph},
        }
    )


async def timed_runs(container: Container, app: Any, user: Any, runs: int) -> list[float]:
    service = WorkflowService(container)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        stream = await service.start(app, user, {}, [])
        await stream.wait_closed()
        times.append(time.perf_counter() - started)
    await container.drain()
    return times


async def main(runs: int) -> None:
    port = _port()
    upstream = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.upstream",
            "--port",
            str(port),
            "--tokens",
            "1",
            "--delay-first",
            "0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            container = Container.build(Settings(data_dir=Path(tmp), log_level="WARNING"))
            await container.start()
            await configure_provider(
                container.db,
                container.providers,
                container.cipher,
                "openai",
                {"api_key": "sk-bench", "base_url": f"http://127.0.0.1:{port}/v1"},
            )
            apps = {
                name: await import_app(container.db, document(graph, name), container.cipher)
                for name, graph in (
                    ("empty", chain(0)),
                    ("chain50", chain(50)),
                    ("one-branch", fan_out(1)),
                    ("ten-branches", fan_out(10)),
                )
            }
            async with container.db.session() as session:
                user = await EndUserRepo(session).get_or_create(
                    apps["empty"].workspace_id, apps["empty"].id, "bench"
                )
            results = {}
            for name, app in apps.items():
                await timed_runs(container, app, user, 3)  # warm-up
                count = runs if "branch" not in name else max(5, runs // 3)
                results[name] = statistics.median(await timed_runs(container, app, user, count))
            await container.aclose()
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
    empty, chain50 = results["empty"], results["chain50"]
    per_node = (chain50 - empty) / 50
    fan = results["ten-branches"] / results["one-branch"]
    row("fixed cost of a run (start→end, persisted)", empty * 1000, "ms", 10.0)
    row("50-node template chain", chain50 * 1000, "ms")
    row("engine overhead per node (persistence on)", per_node * 1000, "ms", 1.0)
    row("one branch of a ~100 ms LLM node", results["one-branch"] * 1000, "ms")
    row("ten such branches in parallel", results["ten-branches"] * 1000, "ms")
    row("fan-out ratio (ten branches / one)", fan, "x", 1.2)


def row(label: str, value: float, unit: str, target: float | None = None) -> None:
    """One result line: the figure, and its ratio to the target when there is one."""
    goal = f"target {target:g} {unit}   ratio {value / target:5.2f}" if target else ""
    print(f"{label:<46} {value:10.3f} {unit:<3} {goal}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="workflow engine benchmarks")
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(main(parser.parse_args().runs))
