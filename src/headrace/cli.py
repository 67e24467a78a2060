"""The `headrace` command: serve, worker, quickstart, provider configure, app and dataset admin.

Operator mistakes print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from headrace.admin import (
    AdminError,
    configure_provider,
    export_app,
    import_app,
    import_app_file,
    list_apps,
    new_app_key,
    new_dataset_key,
    publish_app,
)
from headrace.container import Container
from headrace.settings import Settings

DEMO_NAME = "Headrace demo chat"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headrace", description="Headrace LLM-app server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1)
    worker = sub.add_parser("worker", help="run a Celery worker for indexing jobs")
    worker.add_argument("--concurrency", type=int, default=2, help="jobs run at once")
    worker.add_argument("--loglevel", default="INFO")
    quick = sub.add_parser("quickstart", help="create the demo app, print its key, serve")
    quick.add_argument("--no-serve", action="store_true", help="only create the app and print")
    provider = sub.add_parser("provider", help="model provider settings").add_subparsers(
        dest="action", required=True
    )
    configure = provider.add_parser("configure", help="set workspace-default credentials")
    configure.add_argument("provider")
    configure.add_argument("--credential", action="append", default=[], metavar="KEY=VALUE")
    app = sub.add_parser("app", help="apps").add_subparsers(dest="action", required=True)
    app.add_parser("import", help="import a Dify DSL file").add_argument("file", type=Path)
    export = app.add_parser("export", help="write an app's DSL to stdout")
    export.add_argument("app_id")
    export.add_argument("--include-secrets", action="store_true", help="export secret values")
    app.add_parser("publish", help="publish a workflow app's draft").add_argument("app_id")
    app.add_parser("key", help="mint an app- API key").add_argument("app_id")
    app.add_parser("list", help="list apps")
    dataset = sub.add_parser("dataset", help="knowledge bases").add_subparsers(
        dest="action", required=True
    )
    dataset.add_parser("key", help="mint a dataset- API key for the Knowledge API")
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")
    return parser


async def _with_container(settings: Settings, action: Callable[[Container], Awaitable[Any]]) -> Any:
    container = Container.build(settings)
    await container.db.migrate()
    try:
        return await action(container)
    finally:
        await container.db.aclose()


def _credentials(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AdminError(f"credential must look like KEY=VALUE: {pair}")
        values[key.strip()] = value
    return values


async def _ensure_demo(container: Container) -> tuple[str, str]:
    apps = [a for a in await list_apps(container.db) if a.name == DEMO_NAME]
    if apps:
        app = apps[0]
    else:
        text = resources.files("headrace").joinpath("demo", "demo-chat.yml").read_text("utf-8")
        app = await import_app(container.db, text)
    return app.id, await new_app_key(container.db, app.id)


def _print_quickstart(settings: Settings, app_id: str, key: str) -> None:
    base = f"http://{settings.host}:{settings.port}"
    print(f"Demo app: {app_id}")
    print(f"API key: {key}")
    print("Try it (streams an answer from the local model):")
    print(
        f"  curl -N {base}/v1/chat-messages -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"inputs": {}, "query": "Tell me about rivers.", '
        '"response_mode": "streaming", "user": "demo"}\'',
        flush=True,
    )


def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    """Apply migrations once, then run uvicorn with the app factory."""
    import uvicorn

    from headrace.store.db import upgrade

    upgrade(settings.effective_database_url)
    uvicorn.run(
        "headrace.asgi:create",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Execute a command line; returns the exit status."""
    args = _parser().parse_args(argv)
    settings = Settings()
    try:
        if args.command == "serve":
            serve(settings, args.host, args.port, args.workers)
        elif args.command == "worker":
            from headrace.jobs.worker import run_worker

            run_worker(settings, args.concurrency, args.loglevel)
        elif args.command == "quickstart":
            app_id, key = asyncio.run(_with_container(settings, _ensure_demo))
            _print_quickstart(settings, app_id, key)
            if not args.no_serve:
                serve(settings, None, None, 1)
        elif args.command == "provider":
            creds = _credentials(args.credential)
            canonical = asyncio.run(
                _with_container(
                    settings,
                    lambda c: configure_provider(c.db, c.providers, c.cipher, args.provider, creds),
                )
            )
            print(f"configured {canonical}")
        elif args.command == "app" and args.action == "import":
            app = asyncio.run(
                _with_container(settings, lambda c: import_app_file(c.db, args.file, c.cipher))
            )
            print(orjson.dumps({"app_id": app.id, "mode": app.mode}).decode())
        elif args.command == "app" and args.action == "export":
            text = asyncio.run(
                _with_container(
                    settings,
                    lambda c: export_app(c.db, c.cipher, args.app_id, args.include_secrets),
                )
            )
            sys.stdout.write(text)
        elif args.command == "app" and args.action == "publish":
            version = asyncio.run(
                _with_container(settings, lambda c: publish_app(c.db, args.app_id))
            )
            print(orjson.dumps({"app_id": args.app_id, "workflow_id": version}).decode())
        elif args.command == "app" and args.action == "key":
            print(asyncio.run(_with_container(settings, lambda c: new_app_key(c.db, args.app_id))))
        elif args.command == "app" and args.action == "list":
            for app in asyncio.run(_with_container(settings, lambda c: list_apps(c.db))):
                print(orjson.dumps({"app_id": app.id, "mode": app.mode, "name": app.name}).decode())
        elif args.command == "dataset" and args.action == "key":
            print(asyncio.run(_with_container(settings, lambda c: new_dataset_key(c.db))))
        elif args.command == "db":
            asyncio.run(_with_container(settings, lambda c: asyncio.sleep(0)))
            print("database is up to date")
    except AdminError as exc:
        print(f"headrace: error: {exc}", file=sys.stderr)
        return 2
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
