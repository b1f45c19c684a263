"""``verifier serve | rewards | score`` (``score --compare`` re-verifies stored results): the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import orjson
from pydantic import ValidationError

from verifier.errors import ExposureError, PluginError, RequestError
from verifier.reverify import Comparison, Stored, change_rows, read_stored, summary_rows
from verifier.runtime import build_registry, running
from verifier.schemas import Item, ItemResult, VerifyRequest
from verifier.settings import Settings, load_settings
from verifier.wire import score_request, verify_response


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        return int(args.run(args, settings))
    except (PluginError, ExposureError) as exc:
        print(f"verifier: startup failed: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValidationError, ValueError) as exc:
        print(f"verifier: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verifier", description="Reward and verification service for R1-style RL."
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (below VERIFIER_* variables)")
    parser.add_argument("--allow", action="append", help="load only these plugins (repeat or comma-separate)")
    parser.add_argument("--deny", action="append", help="never load these plugins (repeat or comma-separate)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    serve.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    ray = serve.add_argument_group("Ray Serve (the `ray` extra): deploy on a running cluster and return")
    ray.add_argument("--ray", metavar="ADDRESS", help="cluster address (auto, HOST:6379); --host/--port: Serve's proxy")
    ray.add_argument("--replicas", type=int, default=None, help="verifier replicas (default 1)")
    ray.add_argument(
        "--sandbox-replicas", type=int, default=0,
        help="run code in a sandbox deployment of this many replicas (default 0: in each verifier replica)",
    )  # fmt: skip
    serve.set_defaults(run=_serve)

    rewards = sub.add_parser("rewards", help="list the rewards the installed plugins provide")
    rewards.add_argument("--json", action="store_true", help="print JSON, params schemas included")
    rewards.set_defaults(run=_rewards)

    score = sub.add_parser("score", help="score a JSONL file of items offline, through the same plugins")
    score.add_argument("input", type=Path, help="JSONL: one item per line (completion, reference, ...)")
    score.add_argument(
        "output", type=Path, nargs="?", help="JSONL: one result per input line, in order (optional with --compare)"
    )
    score.add_argument("--rewards", help="comma-separated reward names, or a JSON object of name: weight")
    score.add_argument("--params", help="JSON object of per-reward params")
    score.add_argument("--batch-size", type=int, default=256)
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.add_argument(
        "--with-items", action="store_true", help="each output line holds the item too (what --compare reads)"
    )
    score.add_argument(
        "--compare",
        action="store_true",
        help="INPUT holds stored results (items with their scores and versions): re-score them and report "
        "which verdicts changed",
    )
    score.add_argument("--report", type=Path, help="with --compare: write the full report here as JSON")
    score.set_defaults(run=_score)
    return parser


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "workers", "log_level"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    if args.allow:
        overrides["plugins_allow"] = _split(args.allow)
    if args.deny:
        overrides["plugins_deny"] = _split(args.deny)
    return load_settings(args.config, **overrides)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from verifier.http.app import RESOLVED_SETTINGS_ENV, create_app, settings_for_workers
    from verifier.http.auth import check_exposure
    from verifier.http.logs import configure_logging

    check_exposure(settings)
    build_registry(settings)  # fail fast, with a clean message, before uvicorn starts
    if args.ray:
        return _deploy_on_ray(args, settings)
    configure_logging(settings.log_level, settings.log_format)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,  # ours, from configure_logging
        "access_log": False,  # the app logs each request itself, with its request id
        "timeout_graceful_shutdown": settings.graceful_shutdown_s,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **common)
    else:
        os.environ[RESOLVED_SETTINGS_ENV] = settings_for_workers(settings)
        uvicorn.run("verifier.http.app:create_app_from_env", factory=True, workers=settings.workers, **common)
    return 0


def _deploy_on_ray(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from verifier.rayserve import deploy
    except ImportError as exc:
        print(f"verifier: --ray needs the `ray` extra (pip install 'r1-verifier[ray]'): {exc}", file=sys.stderr)
        return 2
    url = deploy(args.ray, settings, replicas=args.replicas, sandbox_replicas=args.sandbox_replicas)
    print(f"verifier: deployed on the Ray cluster at {args.ray}; serving {url}/v1/verify from every node's proxy")
    return 0


def _rewards(args: argparse.Namespace, settings: Settings) -> int:
    registry = build_registry(settings)
    if args.json:
        listing = [
            {
                "name": e.name,
                "plugin": e.plugin.name,
                "version": e.plugin.version,
                "description": e.reward.description,
                "deterministic": e.reward.deterministic,
                "params_schema": e.reward.params.model_json_schema(),
            }
            for e in registry
        ]
        print(json.dumps(listing, indent=2))
        return 0
    rows = [(e.name, f"{e.plugin.name} {e.plugin.version}", e.reward.description) for e in registry]
    _print_table(("reward", "plugin", "description"), rows, sys.stdout)
    return 0


@dataclass
class _Tally:
    values: list[float] = field(default_factory=list)
    nulls: int = 0
    errors: int = 0


def _score(args: argparse.Namespace, settings: Settings) -> int:
    if args.compare:
        return _compare(args, settings)
    if args.output is None:
        raise ValueError("score needs an OUTPUT file (only --compare can do without)")
    if args.report is not None:
        raise ValueError("--report goes with --compare")
    rewards: Any = None
    if args.rewards:
        rewards = (
            json.loads(args.rewards) if args.rewards.lstrip().startswith("{") else _split([args.rewards])
        )
    params = json.loads(args.params) if args.params else None
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    tallies, bad_lines, total = anyio.run(_score_file, args, settings, rewards, params)
    elapsed = time.perf_counter() - started
    rows = [
        (
            name,
            str(len(t.values)),
            f"{sum(t.values) / len(t.values):.4f}" if t.values else "-",
            str(t.nulls),
            str(t.errors),
        )
        for name, t in sorted(tallies.items())
    ]
    print(
        f"scored {total} lines in {elapsed:.1f} s ({total / elapsed if elapsed else math.inf:.0f}/s); "
        f"{bad_lines} rejected",
        file=sys.stderr,
    )
    _print_table(("reward", "scored", "mean", "null", "errors"), rows, sys.stderr)
    return 1 if bad_lines else 0


async def _score_file(
    args: argparse.Namespace, settings: Settings, rewards: Any, params: Any
) -> tuple[dict[str, _Tally], int, int]:
    from tqdm import tqdm

    tallies: dict[str, _Tally] = {}
    bad_lines = total = 0
    with args.input.open("rb") as source:
        line_count = sum(1 for _ in source)
    async with running(settings) as runtime:
        with args.output.open("wb") as out, tqdm(total=line_count, disable=args.quiet, unit="item") as bar:
            for batch in _batches(args.input, args.batch_size):
                results: list[dict[str, Any] | None] = [None] * len(batch)
                good: list[tuple[int, Item]] = []
                for slot, (line_no, raw) in enumerate(batch):
                    try:
                        good.append((slot, Item.model_validate_json(raw)))
                    except ValidationError as exc:
                        results[slot] = {"line": line_no, "error": _first_error(exc)}
                if good:
                    request = VerifyRequest(items=[item for _, item in good], rewards=rewards, params=params)
                    try:
                        scored = verify_response(await runtime.scorer.score(score_request(request))).results
                        for (slot, _), scored_item in zip(good, scored, strict=True):
                            results[slot] = {"line": batch[slot][0], **scored_item.model_dump()}
                    except RequestError:  # one bad line must not cost its neighbours: score them one by one
                        for slot, item in good:
                            results[slot] = await _score_one(
                                runtime.scorer, item, rewards, params, batch[slot][0]
                            )
                for slot, result in enumerate(results):
                    assert result is not None
                    if args.with_items and "error" not in result:  # the item and its result: what --compare reads
                        result = {**orjson.loads(batch[slot][1]), **result}
                    bad_lines += "error" in result
                    for name, value in result.get("scores", {}).items():
                        tally = tallies.setdefault(name, _Tally())
                        if value is None:
                            tally.nulls += 1
                        else:
                            tally.values.append(value)
                        tally.errors += name in result.get("errors", {})
                    out.write(orjson.dumps(result) + b"\n")
                total += len(batch)
                bar.update(len(batch))
    return tallies, bad_lines, total


def _compare(args: argparse.Namespace, settings: Settings) -> int:
    if args.rewards:
        raise ValueError("with --compare the rewards are those each stored line was scored with")
    params = json.loads(args.params) if args.params else None
    logging.basicConfig(level=logging.WARNING)
    comparison = anyio.run(_compare_file, args, settings, params)
    items = len({c.line for c in comparison.changes})
    print(
        f"re-scored {args.input}: {comparison.changed} verdicts changed in {items} items; "
        f"{sum(t.failed for t in comparison.rewards.values())} could not be re-scored, "
        f"{len(comparison.rejected)} lines rejected",
        file=sys.stderr,
    )
    _print_table(
        ("reward", "compared", "changed", "failed", "old versions", "new versions"),
        summary_rows(comparison),
        sys.stderr,
    )
    if comparison.changes:
        shown = 50
        print(f"\nchanged verdicts{f' (first {shown})' if comparison.changed > shown else ''}:", file=sys.stderr)
        _print_table(
            ("line", "id", "reward", "old", "new", "old version", "new version"),
            change_rows(comparison, shown),
            sys.stderr,
        )
    if args.report is not None:
        args.report.write_bytes(orjson.dumps(comparison.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    # Changed verdicts are the report, not a failure; lines that could not be re-scored are.
    return 1 if comparison.rejected or comparison.failures else 0


async def _compare_file(args: argparse.Namespace, settings: Settings, params: Any) -> Comparison:
    from tqdm import tqdm

    comparison = Comparison()
    with args.input.open("rb") as source:
        line_count = sum(1 for _ in source)
    async with running(settings) as runtime, contextlib.AsyncExitStack() as stack:
        out = stack.enter_context(args.output.open("wb")) if args.output is not None else None
        bar = stack.enter_context(tqdm(total=line_count, disable=args.quiet, unit="item"))
        for batch in _batches(args.input, args.batch_size):
            good: list[Stored] = []
            for line_no, raw in batch:
                try:
                    good.append(read_stored(raw, line_no))
                except ValueError as exc:
                    comparison.reject(line_no, str(exc))
            results: list[ItemResult | str] = []
            if good:
                # Fresh verdicts: the point is to see what the verifier says now, not what it said before.
                request = VerifyRequest(items=[s.item for s in good], params=params, cache=False)
                try:
                    results = list(verify_response(await runtime.scorer.score(score_request(request))).results)
                except RequestError:  # one bad line must not cost its neighbours: score them one by one
                    results = [await _rescore_one(runtime.scorer, s.item, params) for s in good]
            for stored, result in zip(good, results, strict=True):
                if isinstance(result, str):
                    comparison.reject(stored.line, result)
                    continue
                comparison.add(stored, result)
                if out is not None:
                    record = {**stored.item.model_dump(exclude_none=True), "line": stored.line, **result.model_dump()}
                    out.write(orjson.dumps(record) + b"\n")
            bar.update(len(batch))
    return comparison


async def _rescore_one(scorer: Any, item: Item, params: Any) -> ItemResult | str:
    try:
        request = score_request(VerifyRequest(items=[item], params=params, cache=False))
        result: ItemResult = verify_response(await scorer.score(request)).results[0]
    except RequestError as exc:
        return exc.message
    return result


async def _score_one(scorer: Any, item: Item, rewards: Any, params: Any, line_no: int) -> dict[str, Any]:
    try:
        request = score_request(VerifyRequest(items=[item], rewards=rewards, params=params))
        result = verify_response(await scorer.score(request)).results[0]
    except RequestError as exc:
        return {"line": line_no, "error": exc.message}
    return {"line": line_no, **result.model_dump()}


def _batches(path: Path, size: int) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    with path.open("rb") as source:
        for line_no, raw in enumerate(source, start=1):
            batch.append((line_no, raw))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]], stream: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=stream
        )
