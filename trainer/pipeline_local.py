"""What ``trainer pipeline`` starts on this machine: servers on 127.0.0.1 and the miniature's model and data.

- ``verifier serve`` with the configured plugins, its judge pointed at ``judge.url`` or at a model server;
- ``trainer serve-model`` (the CPU fallback for vLLM) for the rejection stage's policy and a served judge;
- the tiny model and synthetic arithmetic data of the mini R1 run, for a ``miniature`` config.

The servers of one stage are launched together and waited for together, and stopped when the stage ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from trainer.errors import RecipeError, TrainerError
from trainer.pipeline_config import PipelineConfig, resolve
from verifier.local import free_port

log = logging.getLogger(__name__)

MARKER = "done.json"
# down until a judge server launched alongside is up
_OPTIONAL_REWARDS = frozenset({"judge", "judge_fallback", "reward_model"})


@dataclass(frozen=True)
class Launch:
    """One server to start: its command, where it says it is ready, and where its output goes."""

    name: str
    command: list[str]
    ready_url: str
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Callable[[httpx.Response], bool] = lambda response: response.status_code == 200


def _spawn(launch: Launch) -> subprocess.Popen[bytes]:
    launch.log_path.parent.mkdir(parents=True, exist_ok=True)
    with launch.log_path.open("ab") as out:
        return subprocess.Popen(launch.command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **launch.env})


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(started: Sequence[tuple[Launch, subprocess.Popen[bytes]]], timeout_s: float) -> None:
    pending = list(started)
    deadline = time.monotonic() + timeout_s
    while pending:
        for launch, process in list(pending):
            if process.poll() is not None:
                raise TrainerError(
                    f"{launch.name} exited with status {process.returncode} at startup; see {launch.log_path}"
                )
            with contextlib.suppress(httpx.TransportError, ValueError):
                if launch.ready(httpx.get(launch.ready_url, timeout=2.0)):
                    log.info("%s ready (%s)", launch.name, launch.ready_url)
                    pending.remove((launch, process))
        if pending and time.monotonic() > deadline:
            names = ", ".join(f"{launch.name} (see {launch.log_path})" for launch, _ in pending)
            raise TrainerError(f"not ready after {timeout_s:.0f}s: {names}")
        if pending:
            time.sleep(0.2)


class Services:
    """The servers of one pipeline run. The verifier and a served judge are started when a stage first needs
    them and kept until the run ends; a stage's own servers (the policy) live for that stage. Whatever one stage
    needs is launched at once and waited for together."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.out = Path(config.output_dir)
        self._shared: list[subprocess.Popen[bytes]] = []
        self._verifier_urls: list[str] | None = list(config.verifier.urls) if config.verifier.urls else None
        judge = config.judge
        # A judge served here gets its port now, so that the verifier can be told where it will be.
        self._judge_url = None if judge is None else judge.url or f"http://127.0.0.1:{free_port()}"
        self._judge_up = judge is None or judge.serve is None

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        _stop(self._shared)
        self._shared.clear()

    @contextlib.contextmanager
    def stage(self, *, judge_for: int | None = None, local: Sequence[Launch] = ()) -> Iterator[list[str]]:
        """The verifier's URLs, with the judge's server up when ``judge_for`` (a stage index) is given and
        ``local`` servers running until the block ends."""
        shared: list[Launch] = []
        if self._verifier_urls is None:
            launch, self._verifier_urls = verifier(self.config, self._judge_url, not self._judge_up,
                                                   self.out / "verifier.log")
            shared.append(launch)
        if judge_for is not None and not self._judge_up:
            judge = self.config.judge
            assert judge is not None and judge.serve is not None and self._judge_url is not None
            model = resolve(self.config, judge.serve, judge_for, "judge.serve")
            launch, _ = model_server(model, judge.model, self.out / "judge-server.log", url=self._judge_url,
                                     serve_command=judge.serve_command)
            shared.append(launch)
            self._judge_up = True
        started_shared = [(launch, _spawn(launch)) for launch in shared]
        self._shared += [process for _, process in started_shared]
        started_local = [(launch, _spawn(launch)) for launch in local]
        own = [process for _, process in started_local]
        try:
            _wait_ready([*started_shared, *started_local], self.config.verifier.start_timeout_s)
            yield list(self._verifier_urls)
        finally:
            _stop(own)


DEFAULT_SERVE_COMMAND = "{python} -m trainer.cli serve-model {model} --port {port} --model-name {name}"


def model_server(model_dir: Path | str, name: str, log_path: Path, url: str | None = None,
                 serve_command: str | None = None) -> tuple[Launch, str]:
    """A model server for ``model_dir`` on 127.0.0.1 (at ``url``, or a free port), and its URL: ``serve_command``
    (say ``vllm serve {model} --port {port} --served-model-name {name}``) or ``trainer serve-model`` (CPU)."""
    url = url or f"http://127.0.0.1:{free_port()}"
    values = {"model": str(model_dir), "name": name, "port": url.rsplit(":", 1)[1], "python": sys.executable}
    command = [part.format(**values) for part in shlex.split(serve_command or DEFAULT_SERVE_COMMAND)]
    # /v1/models: what both vLLM and trainer serve-model answer once the model is loaded
    return Launch(f"model server ({name}: {model_dir})", command, f"{url}/v1/models", log_path), url


def verifier(
    config: PipelineConfig, judge_url: str | None, judge_pending: bool, log_path: Path
) -> tuple[Launch, list[str]]:
    """``verifier serve`` to start here with its judge at ``judge_url``, and its URL."""
    v = config.verifier
    options = {name: dict(value) for name, value in v.plugin_options.items()}
    if judge_url is not None and config.judge is not None:
        options["judge"] = {**options.get("judge", {}), "model": config.judge.model,
                            "endpoints": [{"url": judge_url}], **config.judge.options}
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "verifier", "--allow", ",".join(v.plugins),
               "serve", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1], "--log-level", "warning"]  # fmt: skip

    def ready(response: httpx.Response) -> bool:
        if response.status_code == 200:
            return True
        # A judge served here starts later (or alongside): its reward says down until then, and that is expected.
        rewards = response.json().get("rewards") or {}
        down = {name for name, health in rewards.items() if health.get("status") == "down"}
        return judge_pending and response.status_code == 503 and bool(rewards) and down <= _OPTIONAL_REWARDS

    launch = Launch("verifier", command, f"{url}/readyz", log_path,
                    env={"VERIFIER_PLUGIN_OPTIONS": json.dumps(options)}, ready=ready)
    return launch, [url]


# The miniature


def read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(directory: Path, data: Mapping[str, Any]) -> None:
    """Written last, atomically: a crash leaves either no marker or a whole one."""
    tmp = directory / f".{MARKER}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MARKER)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_miniature(config: PipelineConfig) -> str | None:
    """Build the tiny base model and the synthetic data once; the fingerprint of what was built."""
    spec = config.miniature
    if spec is None:
        return None
    directory = Path(config.output_dir) / "miniature"
    built = fingerprint(spec.model_dump())
    marker = read_marker(directory)
    if marker is not None and marker.get("fingerprint") == built:
        return built
    if marker is not None:
        raise RecipeError(f"miniature: {directory} was built with other settings; use another output_dir")
    from trainer.mini_r1.task import Problem, TaskSpec, corpus, make_splits
    from trainer.mini_r1.tiny import TinyModelSpec, build_model_dir

    try:
        task, tiny = TaskSpec(**spec.task), TinyModelSpec(**spec.model)
    except TypeError as exc:
        raise RecipeError(f"miniature: {exc}") from exc
    wanted = spec.n_reasoning + spec.n_rejection + spec.n_all_scenario
    try:
        splits = make_splits(task, n_sft=spec.n_sft, n_held_out=spec.n_held_out, seed=spec.seed)
    except ValueError as exc:
        raise RecipeError(f"miniature: {exc}") from exc
    if len(splits.grpo) < wanted:
        raise RecipeError(
            f"miniature: the task has {len(task.all_problems())} problems, {spec.n_sft + spec.n_held_out} for SFT "
            f"and held out; n_reasoning + n_rejection + n_all_scenario ({wanted}) must fit in the remaining "
            f"{len(splits.grpo)}"
        )
    shutil.rmtree(directory, ignore_errors=True)
    build_model_dir(directory / "model", corpus(task.all_problems()), tiny, spec.seed)
    reasoning = splits.grpo[: spec.n_reasoning]
    rejection = splits.grpo[spec.n_reasoning : spec.n_reasoning + spec.n_rejection]
    all_scenario = splits.grpo[spec.n_reasoning + spec.n_rejection : wanted]

    def chat(problem: Problem) -> list[dict[str, str]]:
        return [{"role": "user", "content": problem.prompt}]

    files: dict[str, list[dict[str, Any]]] = {
        "cold_start.jsonl": [{"prompt": chat(p), "completion": [{"role": "assistant", "content": p.completion()}]}
                             for p in splits.sft],
        "reasoning.jsonl": [{"prompt": chat(p), "solution": str(p.answer)} for p in reasoning],
        "rejection.jsonl": [{"id": f"r{i}", "prompt": p.prompt, "reference": str(p.answer), "task": "math"}
                            for i, p in enumerate(rejection)],
        "all_scenario.jsonl": [{"prompt": chat(p), "solution": str(p.answer)} for p in all_scenario],
        "held_out.jsonl": [{"prompt": chat(p), "solution": str(p.answer)} for p in splits.held_out],
    }
    for file, rows in files.items():
        (directory / file).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    write_marker(directory, {"fingerprint": built, "files": sorted(files)})
    return built
