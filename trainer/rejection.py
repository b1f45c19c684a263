"""Rejection sampling (R1 Stage 3): k candidates per prompt from a policy endpoint, kept when the verifier passes
them, written as an SFT dataset of chat messages.

    stats = rejection_sample(RejectionConfig(prompts=Path("prompts.jsonl"), output=Path("sft.jsonl"),
                                             policy_url="http://127.0.0.1:8001", policy_model="policy",
                                             verifier_urls=["http://127.0.0.1:8000"]))

Input: JSONL, one prompt per line: ``{"id"?, "prompt": text | chat messages, "reference"?, "task"?}``. Each task
type names the rewards that decide and their thresholds (``math``: math and format; ``general``: the judge).

Output, append-only and resumable:

- ``<output>.ledger.jsonl``: one line per finished prompt (its accepted samples, its rejection reasons, or its
  error), written and fsynced before anything else. It is the record of what is done: a resumed run skips
  every prompt in it (no prompt sampled twice) and restores any accepted sample missing from the dataset (a
  crash between the two writes loses nothing);
- ``<output>``: the SFT dataset, ``{"messages": [...], "prompt_id", "task", "scores"}`` per line;
- ``<output>.stats.json``: acceptance per task type and rejections per reason, over the whole ledger.

A prompt that lacks what its task needs, or that the policy refuses (a 4xx: too long, ...), is an error in the
stats and the run goes on. An unreachable policy or verifier stops the run (resume later): its prompts are not
marked done. Each prompt's sampling seed derives from the run's seed and the prompt's id.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from pydantic import BaseModel, ConfigDict, Field

from trainer.errors import RecipeError, SamplingUnavailableError
from trainer.transport import VerifierPool

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})




class TaskRules(BaseModel):
    """What a candidate of one task type must pass to be kept."""

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, float] = Field(..., min_length=1, description="reward -> minimum score")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="reward -> verifier params")
    needs_reference: bool = False
    min_chars: int = Field(1, ge=0, description="shorter candidates are rejected (too_short)")
    max_chars: int | None = Field(None, gt=0, description="longer candidates are rejected (too_long)")
    reject_truncated: bool = Field(True, description="reject candidates cut by max_tokens (truncated)")


DEFAULT_TASKS = {
    "math": TaskRules(thresholds={"math": 1.0, "format": 1.0}, needs_reference=True),
    "general": TaskRules(thresholds={"judge": 0.7}),
}


class RejectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: Path
    output: Path
    policy_url: str
    policy_model: str
    policy_api_key: str | None = None
    verifier_urls: list[str] = Field(..., min_length=1)
    k: int = Field(8, ge=1, description="candidates sampled per prompt")
    n: int = Field(1, ge=1, description="candidates kept per prompt, at most")
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    seed: int = 0
    concurrency: int = Field(4, ge=1, description="prompts in flight")
    timeout_s: float = Field(600.0, gt=0)
    retries: int = Field(3, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    system_prompt: str | None = None
    tasks: dict[str, TaskRules] = Field(default_factory=lambda: dict(DEFAULT_TASKS))
    default_task: str = "math"
    progress: bool = True

    @property
    def ledger(self) -> Path:
        return self.output.with_name(self.output.name + ".ledger.jsonl")

    @property
    def stats_path(self) -> Path:
        return self.output.with_name(self.output.name + ".stats.json")


@dataclass
class TaskStats:
    prompts: int = 0
    candidates: int = 0
    accepted: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "candidates": self.candidates,
            "accepted": self.accepted,
            "acceptance_rate": self.accepted / self.candidates if self.candidates else None,
            "rejections": dict(self.rejections.most_common()),
            "errors": dict(self.errors.most_common()),
        }


@dataclass
class Stats:
    """Over the whole ledger (earlier runs included); ``sampled`` and ``skipped`` are this run's."""

    sampled: int = 0
    skipped: int = 0
    restored: int = 0
    tasks: dict[str, TaskStats] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(t.accepted for t in self.tasks.values())

    @property
    def errors(self) -> Counter[str]:
        return sum((t.errors for t in self.tasks.values()), Counter())

    def add(self, record: Mapping[str, Any]) -> None:
        task = self.tasks.setdefault(str(record.get("task")), TaskStats())
        task.prompts += 1
        if record.get("error"):
            task.errors[str(record["error"]).split(":", 1)[0]] += 1
            return
        task.candidates += int(record["candidates"])
        task.accepted += len(record["accepted"])
        task.rejections.update(record["rejections"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "sampled_this_run": self.sampled,
            "skipped_as_done": self.skipped,
            "restored_samples": self.restored,
            "accepted": self.accepted,
            "errors": dict(self.errors),
            "tasks": {name: t.to_dict() for name, t in sorted(self.tasks.items())},
        }


@dataclass
class Prompt:
    id: str
    task: str
    messages: list[dict[str, Any]]
    reference: Any
    error: str | None = None


def prompt_seed(seed: int, prompt_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def read_prompts(config: RejectionConfig) -> Iterator[Prompt]:
    """Every line of the prompts file as a ``Prompt``; a line that cannot be one carries its error."""
    seen: set[str] = set()
    with config.prompts.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                yield Prompt(f"line-{number}", "?", [], None, "invalid_json: line is not JSON")
                continue
            if not isinstance(row, dict):
                yield Prompt(f"line-{number}", "?", [], None, "invalid_row: line is not a JSON object")
                continue
            task = str(row.get("task") or config.default_task)
            raw_id = row.get("id")
            prompt_id = str(raw_id) if raw_id is not None else hashlib.sha256(
                json.dumps([row.get("prompt"), row.get("reference"), task], sort_keys=True).encode()
            ).hexdigest()[:16]
            yield _prompt(config, prompt_id, task, row, seen)
            seen.add(prompt_id)


def _prompt(config: RejectionConfig, prompt_id: str, task: str, row: dict[str, Any], seen: set[str]) -> Prompt:
    def failed(error: str) -> Prompt:
        return Prompt(prompt_id, task, [], row.get("reference"), error)

    if prompt_id in seen:
        return failed(f"duplicate_id: {prompt_id!r} appears more than once")
    rules = config.tasks.get(task)
    if rules is None:
        return failed(f"unknown_task: {task!r} (configured: {', '.join(sorted(config.tasks))})")
    prompt = row.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "role" in m for m in prompt):
        messages = [dict(m) for m in prompt]
    else:
        return failed("missing_prompt: 'prompt' must be non-empty text or a list of chat messages")
    if rules.needs_reference and row.get("reference") is None:
        return failed(f"missing_reference: task {task!r} needs a 'reference'")
    if config.system_prompt and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": config.system_prompt})
    return Prompt(prompt_id, task, messages, row.get("reference"))


class Sampler:
    """k candidates for one prompt from the policy's ``/v1/chat/completions`` (``n`` = k, one seed)."""

    def __init__(self, config: RejectionConfig) -> None:
        self.config = config
        headers = {"authorization": f"Bearer {config.policy_api_key}"} if config.policy_api_key else {}
        self.client = httpx.Client(base_url=config.policy_url.rstrip("/"), timeout=config.timeout_s, headers=headers)

    def close(self) -> None:
        self.client.close()

    def sample(self, prompt: Prompt) -> list[tuple[str, str]] | str:
        """``(text, finish_reason)`` per candidate, or the policy's refusal as an error string."""
        c = self.config
        body = {
            "model": c.policy_model, "messages": prompt.messages, "n": c.k, "temperature": c.temperature,
            "top_p": c.top_p, "max_tokens": c.max_tokens, "seed": prompt_seed(c.seed, prompt.id),
        }
        last = ""
        for attempt in range(c.retries + 1):
            try:
                response = self.client.post("/v1/chat/completions", json=body)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    choices = response.json().get("choices", [])
                    return [(str(ch["message"].get("content") or ""), str(ch.get("finish_reason"))) for ch in choices]
                if response.status_code not in RETRY_STATUSES:
                    return f"sampling_refused: HTTP {response.status_code}: {response.text[:300]}"
                last = f"HTTP {response.status_code}: {response.text[:300]}"
            if attempt < c.retries:
                time.sleep(c.backoff_s * 2**attempt)
        raise SamplingUnavailableError(f"the policy at {c.policy_url} did not answer: {last}")


class Ledger:
    """The append-only record of finished prompts and the dataset, written under one lock."""

    def __init__(self, config: RejectionConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        self.restored = 0
        config.output.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        self.ledger: TextIO = config.ledger.open("a", encoding="utf-8")
        self.dataset: TextIO = config.output.open("a", encoding="utf-8")

    def _load(self) -> None:
        if self.config.ledger.exists():
            good = 0
            with self.config.ledger.open("rb") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        break  # a line cut short by a crash: everything after it is dropped
                    self.records[record["prompt_id"]] = record
                    good += len(line)
            os.truncate(self.config.ledger, good)
        present: set[tuple[str, int]] = set()
        if self.config.output.exists():
            good = 0
            with self.config.output.open("rb") as f:
                for line in f:
                    try:
                        sample = json.loads(line)
                    except ValueError:
                        break
                    present.add((sample["prompt_id"], sample["candidate"]))
                    good += len(line)
            os.truncate(self.config.output, good)
        accepted = [s for r in self.records.values() for s in r.get("accepted", [])]
        missing = [s for s in accepted if (s["prompt_id"], s["candidate"]) not in present]
        if missing:
            with self.config.output.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in missing)
            self.restored = len(missing)

    def write(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.ledger.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.ledger.flush()
            os.fsync(self.ledger.fileno())
            self.dataset.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in record.get("accepted", []))
            self.dataset.flush()
            self.records[record["prompt_id"]] = record

    def close(self) -> None:
        self.ledger.close()
        self.dataset.close()


def judge_candidates(
    config: RejectionConfig, prompt: Prompt, candidates: list[tuple[str, str]], pool: VerifierPool
) -> dict[str, Any]:
    """Filter, score and pick: the prompt's ledger record."""
    rules = config.tasks[prompt.task]
    rejections: Counter[str] = Counter()
    reasons: list[list[str]] = []
    for text, finish in candidates:
        why = []
        if rules.reject_truncated and finish == "length":
            why.append("truncated")
        if len(text) < rules.min_chars:
            why.append("too_short")
        if rules.max_chars is not None and len(text) > rules.max_chars:
            why.append("too_long")
        reasons.append(why)
    to_score = [i for i, why in enumerate(reasons) if not why]
    scores: dict[int, dict[str, float | None]] = {}
    if to_score:
        items = [
            {"prompt": prompt.messages, "completion": candidates[i][0], "reference": prompt.reference}
            for i in to_score
        ]
        response = pool.verify(items, rewards=list(rules.thresholds), params=rules.params or None)
        for i, result in zip(to_score, response.results, strict=True):
            scores[i] = dict(result.scores)
            for reward, minimum in rules.thresholds.items():
                value = result.scores.get(reward)
                if value is None:
                    reasons[i].append(f"{reward}:unscored")
                elif value < minimum:
                    reasons[i].append(f"{reward}:below_threshold")
    passing = [i for i, why in enumerate(reasons) if not why]
    passing.sort(key=lambda i: (-sum(v for v in scores[i].values() if v is not None), i))
    kept: list[int] = []
    texts: set[str] = set()
    for i in passing:
        if candidates[i][0] in texts:
            reasons[i].append("duplicate")
        elif len(kept) >= config.n:
            reasons[i].append("surplus")
        else:
            kept.append(i)
            texts.add(candidates[i][0])
    for why in reasons:
        rejections.update(why)
    accepted = [
        {
            "messages": [*prompt.messages, {"role": "assistant", "content": candidates[i][0]}],
            "prompt_id": prompt.id,
            "task": prompt.task,
            "candidate": i,
            "scores": scores[i],
        }
        for i in sorted(kept)
    ]
    return {"prompt_id": prompt.id, "task": prompt.task, "candidates": len(candidates), "accepted": accepted,
            "rejections": dict(rejections), "error": None}


def rejection_sample(config: RejectionConfig) -> Stats:
    """Run (or resume) rejection sampling; write the dataset, the ledger and the stats report; return the stats."""
    from tqdm import tqdm

    if not config.prompts.is_file():
        raise RecipeError(f"prompts: {config.prompts} does not exist")
    ledger = Ledger(config)
    stats = Stats(restored=ledger.restored)
    sampler = Sampler(config)
    pool = VerifierPool(config.verifier_urls, timeout=config.timeout_s)

    def process(prompt: Prompt) -> None:
        if prompt.error is None:
            candidates = sampler.sample(prompt)
            if isinstance(candidates, str):
                prompt.error = candidates
            else:
                ledger.write(judge_candidates(config, prompt, candidates, pool))
                return
        ledger.write({"prompt_id": prompt.id, "task": prompt.task, "candidates": 0, "accepted": [],
                      "rejections": {}, "error": prompt.error})

    todo, duplicates = [], []
    for prompt in read_prompts(config):
        if prompt.error is not None and prompt.error.startswith("duplicate_id"):
            # Reported, never ledgered: the ledger is keyed by id, and the first of the lines owns it.
            duplicates.append({"prompt_id": prompt.id, "task": prompt.task, "error": prompt.error})
        elif prompt.id in ledger.records:
            stats.skipped += 1
        else:
            todo.append(prompt)
    executor = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="rejection")
    bar = tqdm(total=len(todo), desc="rejection sampling", unit="prompt", disable=not config.progress)
    running: set[Future[None]] = set()
    try:
        for prompt in todo:
            if len(running) >= config.concurrency:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # an unreachable policy or verifier stops the run here
                    stats.sampled += 1
                    bar.update()
            running.add(executor.submit(process, prompt))
        for future in running:
            future.result()
            stats.sampled += 1
            bar.update()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        sampler.close()
        pool.close()
        for record in [*ledger.records.values(), *duplicates]:
            stats.add(record)
        ledger.close()
        config.stats_path.write_text(json.dumps(stats.to_dict(), indent=2) + "\n", encoding="utf-8")
    return stats


def load_config(path: Path) -> RejectionConfig:
    """A ``RejectionConfig`` from a YAML or JSON file; relative paths in it are relative to the file."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping of settings")
    for key in ("prompts", "output"):
        if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
            data[key] = str(path.parent / data[key])
    try:
        return RejectionConfig.model_validate(data)
    except ValueError as exc:
        raise RecipeError(f"{path}: {exc}") from exc


def add_command(sub: Any) -> None:
    """``trainer rejection-sample config.yaml``: for ``trainer.cli.COMMANDS``."""
    parser = sub.add_parser("rejection-sample", help="k candidates per prompt, kept when the verifier passes them")
    parser.add_argument("config", type=Path, help="YAML or JSON file with RejectionConfig's fields")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run)


def _run(args: Any) -> int:
    config = load_config(args.config)
    if args.no_progress:
        config = config.model_copy(update={"progress": False})
    stats = rejection_sample(config)
    print(json.dumps(stats.to_dict(), indent=2))
    return 0
