"""Language reward throughput on 2,000-character chains of thought.

Baseline, measured in the same run: langdetect called once per whole text in this process (seeded, its
factory built once), which is what a training script does when it scores language by hand. Against it:
  1. the ``language`` reward in-process, with each detector (segments, script fast paths, inheritance);
  2. the service: a real ``verifier serve`` on 127.0.0.1 and the real ``VerifierClient``, batches of
     ``--batch`` items, once per detector (plugin option ``detector``).
Prints items/second (the best of ``--repeats`` runs of each path, since the machine is shared) and the ratio
service (default detector) / baseline. The langdetect paths score the first ``--slow-items`` items only.

    .venv/bin/python -m bench.language_speed [--items 512] [--batch 64] [--repeats 3] [--slow-items 64]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import langdetect
from verifier_language.consistency import LanguageReward
from verifier_language.detectors import DetectorName
from verifier_language.params import LanguageParams
from verifier_language.words import token_words

from bench._common import machine, verifier_server
from verifier import RewardItem
from verifier.client import VerifierClient

DATA = Path(__file__).resolve().parents[1] / "tests" / "plugins" / "language" / "data"
TARGETS = ("en", "en", "en", "zh", "fr", "de", "ru", "ja", "es")
MATH = [
    "So $x^2 - 5x + 6 = 0$ gives $x = 2$ or $x = 3$.",
    "$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$",
    "12 * 7 = 84",
]


def chains_of_thought(n: int, chars: int = 2000, seed: int = 0) -> list[tuple[str, str]]:
    """``(completion, target)`` pairs: R1-style reasoning of about ``chars`` characters, 1 in 4 mixed."""
    pools: dict[str, list[str]] = {}
    for line in (DATA / "reasoning_sentences.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        pools.setdefault(row["lang"], []).append(row["text"])
    rng = random.Random(seed)
    out = []
    for i in range(n):
        target = TARGETS[i % len(TARGETS)]
        other = "zh" if target != "zh" else "en"
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < chars:
            if rng.random() < 0.15:
                parts.append(rng.choice(MATH))
            else:
                language = other if i % 4 == 0 and rng.random() < 0.3 else target
                parts.append(rng.choice(pools[language]))
        out.append((f"<think>\n{chr(10).join(parts)[:chars]}\n</think>\nThe answer is 42.", target))
    return out


def rate(n: int, fn: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> float:
    """Items per second of the fastest of ``repeats`` runs (``before`` runs untimed ahead of each)."""
    best = float("inf")
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-items", type=int, default=64, help="items for the langdetect paths")
    args = parser.parse_args()
    cases = chains_of_thought(args.items)
    n = len(cases)
    print(f"language reward, {n} chains of thought of ~2,000 characters; {machine()}")

    langdetect.DetectorFactory.seed = 0
    langdetect.detect("warm up the factory")  # langdetect loads its profiles on the first call
    base = rate(n, lambda: [langdetect.detect(text) for text, _ in cases], args.repeats)
    print(f"  baseline  langdetect once per whole text, in-process   {base:9.1f} items/s")

    detectors: tuple[DetectorName, ...] = ("fasttext", "langdetect")
    sizes = {"fasttext": n, "langdetect": min(n, args.slow_items)}
    for name in detectors:
        reward = LanguageReward(name)
        items = [
            RewardItem(index=i, completion=text, params=LanguageParams(target=target))
            for i, (text, target) in enumerate(cases[: sizes[name]])
        ]
        reward(items[:2])  # build the detector outside the timing, as the service's lifespan does
        per_second = rate(len(items), functools.partial(reward, items), args.repeats)
        print(f"  in-process language reward, detector {name:10}      {per_second:9.1f} items/s")
        if name == "fasttext":  # the token cache is warm after the first run: also time it emptied
            cold = rate(len(items), functools.partial(reward, items), args.repeats, token_words.cache_clear)
            print(f"  in-process, fasttext, token cache emptied before each run {cold:9.1f} items/s")

    service: dict[str, float] = {}
    for name in detectors:
        options = json.dumps({"language": {"detector": name}})
        body: list[dict[str, object]] = [
            {"completion": text, "params": {"language": {"target": target}}}
            for text, target in cases[: sizes[name]]
        ]
        with (
            verifier_server("--allow", "language", env={"VERIFIER_PLUGIN_OPTIONS": options}) as url,
            VerifierClient(url) as client,
        ):
            client.verify(body[: args.batch], rewards=["language"])  # warm connection

            def run(client: VerifierClient = client, body: list[dict[str, object]] = body) -> None:
                for start in range(0, len(body), args.batch):
                    results = client.verify(body[start : start + args.batch], rewards=["language"]).results
                    assert all(r.scores["language"] is not None for r in results), results

            service[name] = rate(len(body), run, args.repeats)
        print(
            f"  service   HTTP, real server, detector {name:10}      {service[name]:9.1f} items/s "
            f"(batches of {args.batch})"
        )
    print(f"ratio service (fasttext, the default) / baseline: {service['fasttext'] / base:.2f}x faster")
    print(f"ratio service (langdetect) / baseline:            {service['langdetect'] / base:.2f}x")


if __name__ == "__main__":
    main()
