"""Format rewards for a 1,000-item batch: the HTTP service round trip against an in-process call.

Baseline: calling the ``format`` reward's scoring function in the trainer's own process on the same items
(what a TRL reward function defined in the training script does). Measured in the same run:
  1. baseline: ``verifier_format.tags.FormatReward()(items)`` in-process;
  2. the verifier core in-process (request validation, planning, thread hop, result building), no HTTP;
  3. the service: a real ``verifier serve`` on 127.0.0.1 and the real ``VerifierClient``.
Prints medians and the ratio service / baseline (the issue's aim: under 1.5x).

    .venv/bin/python bench/format_roundtrip.py [--items 1000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import random
import statistics

import anyio
import verifier_format
from verifier_format.tags import FormatParams, FormatReward

from bench._common import describe, machine, timed, verifier_server
from verifier.client import VerifierClient
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.schemas import VerifyRequest
from verifier.scoring import BatchScorer
from verifier.types import RewardItem
from verifier.wire import score_request

WORDS = [
    "so",
    "we",
    "need",
    "the",
    "sum",
    "of",
    "the",
    "first",
    "terms",
    "then",
    "check",
    "parity",
    "and",
    "divide",
    "by",
    "two",
    "carefully",
    "again",
]


def completions(n: int, seed: int = 0) -> list[str]:
    """R1-style completions of 1-2k characters: most well-formed, some broken in the usual ways."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        reasoning = " ".join(rng.choice(WORDS) for _ in range(rng.randint(180, 360)))
        answer = f"The answer is \\boxed{{{rng.randint(0, 999)}}}."
        shape = i % 5
        if shape == 0:
            out.append(f"{reasoning}\n{answer}")  # no tags
        elif shape == 1:
            out.append(
                f"<think>\n{reasoning}\n</think>\n<think>{reasoning[:50]}</think>\n{answer}"
            )  # repeated
        else:
            out.append(f"<think>\n{reasoning}\n</think>\n{answer}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    texts = completions(args.items)
    chars = sum(len(t) for t in texts)
    params = FormatParams()
    reward_items = [RewardItem(index=i, completion=t, params=params) for i, t in enumerate(texts)]
    reward = FormatReward()
    baseline_scores = [s.value for s in reward(reward_items)]

    registry = RewardRegistry.from_plugin_manager(
        create_plugin_manager(load_entrypoints=False, plugins={"format": verifier_format})
    )
    scorer = BatchScorer(registry)
    body = {"rewards": ["format"], "items": [{"completion": t} for t in texts]}

    def core() -> object:
        return anyio.run(scorer.score, score_request(VerifyRequest.model_validate(body)))

    print(f"format rewards, {args.items} items, {chars / args.items:.0f} chars each on average; {machine()}")
    base = timed(lambda: reward(reward_items), args.repeats)
    print(f"  baseline  in-process reward function   {describe(base)}")
    engine = timed(core, args.repeats)
    print(f"  verifier core in-process (no HTTP)     {describe(engine)}")

    with verifier_server("--allow", "format") as url, VerifierClient(url) as client:
        items = body["items"]
        service_scores = [r.scores["format"] for r in client.verify(items, rewards=["format"]).results]
        assert service_scores == baseline_scores, "the service and the in-process call disagree"
        service = timed(lambda: client.verify(items, rewards=["format"]), args.repeats)
    print(f"  service   HTTP round trip, real server {describe(service)}")
    ratio = statistics.median(service) / statistics.median(base)
    print(f"ratio service / in-process reward function: {ratio:.2f}x  (aim: < 1.5x)")
    print(
        f"ratio service / verifier core in-process:   {statistics.median(service) / statistics.median(engine):.2f}x"
    )


if __name__ == "__main__":
    main()
