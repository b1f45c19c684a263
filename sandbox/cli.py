"""The ``sandbox`` command: ``sandbox serve`` runs the HTTP service."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandbox", description="Sandboxed code execution.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--backend", choices=["process"], default="process")
    serve.add_argument("--isolation", choices=["auto", "bwrap", "none"], default="auto")
    serve.add_argument("--python", default=None, help="interpreter for Python programs (a real binary)")
    serve.add_argument("--max-concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)

    import uvicorn

    from sandbox.process import ProcessBackend, ProcessOptions
    from sandbox.service import create_app

    def make_backend() -> ProcessBackend:
        options = ProcessOptions(isolation=args.isolation, python=args.python)
        if args.max_concurrency:
            options = ProcessOptions(
                isolation=args.isolation, python=args.python, max_concurrency=args.max_concurrency
            )
        return ProcessBackend(options)

    uvicorn.run(create_app(make_backend), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
