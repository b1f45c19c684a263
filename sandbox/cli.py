"""The ``sandbox`` command: ``sandbox serve`` runs the HTTP service."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pydantic import ValidationError


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sandbox", description="Sandboxed code execution.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--backend", choices=["process", "docker"], default="process")
    serve.add_argument("--max-concurrency", type=int, default=None, help="programs running at once")
    process = serve.add_argument_group("process backend")
    process.add_argument("--isolation", choices=["auto", "bwrap", "none"], default="auto")
    process.add_argument("--python", default=None, help="interpreter for Python programs (a real binary)")
    docker = serve.add_argument_group("docker backend")
    docker.add_argument("--image", default=None, help="sandbox image (default r1-verifier/sandbox:runner-3)")
    docker.add_argument("--docker-url", default=None, help="engine URL (default: DOCKER_HOST or the socket)")
    docker.add_argument("--warm-containers", type=int, default=None, help="idle containers kept ready")
    docker.add_argument(
        "--max-runs-per-container", type=int, default=None, help="runs before a container is replaced"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)

    import uvicorn

    from sandbox.factory import SandboxOptions, make_backend
    from sandbox.service import create_app

    docker_options = {
        "image": args.image,
        "base_url": args.docker_url,
        "warm_containers": args.warm_containers,
        "max_runs_per_container": args.max_runs_per_container,
    }
    try:
        options = SandboxOptions.model_validate(
            {
                "backend": args.backend,
                "isolation": args.isolation,
                "python": args.python,
                "max_concurrency": args.max_concurrency,
                "docker": {k: v for k, v in docker_options.items() if v is not None},
            }
        )
    except ValidationError as exc:
        parser.error(str(exc))
    uvicorn.run(create_app(lambda: make_backend(options)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
