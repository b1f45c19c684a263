"""Math reward throughput and agreement: the service against math-verify called sequentially in one process.

A realistic mix is built in code: GRPO groups of ``--group`` completions per problem, each completion 1-2k
characters of reasoning ending in a final answer (mostly ``\\boxed{}``, some "the answer is", ``####`` or bold),
across integers, fractions vs decimals, radicals, intervals, sets, matrices, equations, percentages, units,
symbolic expressions, ``±`` answers and multi-part answers; about a third of the pairs are not equivalent.

Baseline, measured in the same run: math-verify's ``parse`` of the gold (boxed) and of the completion, then
``verify``, one item after another in this process (default extraction and timeouts: what open GRPO recipes
do in their reward function). Against it: a real ``verifier serve --allow math`` on 127.0.0.1 (its worker pool
sized by ``--workers``) called with the real ``VerifierClient`` in batches of ``--batch`` items. The two
alternate batch by batch, so that both see the same share of a machine that others may be using.
Prints items/second of both, the ratio, the agreement of the verdicts, and every disagreement.

    .venv/bin/python -m bench.math_throughput [--items 640] [--group 4] [--batch 128] [--workers 2] [--own-sessions]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import math_verify

from bench._common import machine, verifier_process
from verifier.client import VerifierClient


@dataclass(frozen=True)
class Case:
    kind: str
    gold: str
    answer: str
    equal: bool  # what the mix was built to be


Maker = Callable[[random.Random], tuple[str, list[tuple[str, bool]]]]
"""A problem: its gold answer and candidate final answers (each marked equivalent or not)."""


def integers(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    n = rng.randint(2, 5000)
    return str(n), [(str(n), True), (f"{n}.0", True), (f"{n:,}", True), (str(n + rng.randint(1, 9)), False)]


def fractions(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    den = rng.choice([2, 4, 5, 8, 10, 20, 25])
    num = rng.choice([k for k in range(1, 3 * den) if k % den])
    value = num / den
    return f"\\frac{{{num}}}{{{den}}}", [
        (f"{value:g}", True),
        (f"\\dfrac{{{num}}}{{{den}}}", True),
        (f"{num}/{den}", True),
        (f"\\frac{{{num * 3}}}{{{den * 3}}}", True),
        (f"{value + 0.1:g}", False),
        (f"\\frac{{{den}}}{{{num}}}", False),
    ]


def radicals(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    a, b = rng.randint(2, 6), rng.choice([2, 3, 5, 6, 7])
    return f"{a}\\sqrt{{{b}}}", [
        (f"\\sqrt{{{a * a * b}}}", True),
        (f"{a} \\sqrt {b}", True),
        (f"\\frac{{{a * b}}}{{\\sqrt{{{b}}}}}", True),
        (f"{a + 1}\\sqrt{{{b}}}", False),
        (f"{a}\\sqrt{{{b + 1}}}", False),
    ]


def intervals(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    a = rng.randint(-9, 5)
    b = a + rng.randint(1, 9)
    if rng.random() < 0.5:
        return f"[{a}, {b})", [(f"[{a},{b})", True), (f"\\left[{a}, {b}\\right)", True), (f"({a}, {b})", False)]
    return f"(-\\infty, {b}]", [
        (f"(-\\infty,{b}]", True),
        (f"\\left(-\\infty, {b}\\right]", True),
        (f"(-\\infty, {b})", False),
    ]


def sets(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    values = rng.sample(range(-9, 20), 3)
    shuffled = rng.sample(values, 3)
    listed = ", ".join(map(str, values))
    return f"\\{{{listed}\\}}", [
        (f"\\{{{', '.join(map(str, shuffled))}\\}}", True),
        (", ".join(map(str, shuffled)), True),
        (f"\\{{{', '.join(map(str, values[:2]))}\\}}", False),
        (f"\\{{{', '.join(map(str, [*values[:2], values[2] + 1]))}\\}}", False),
    ]


def matrices(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    a, b, c, d = (rng.randint(-9, 9) for _ in range(4))
    gold = f"\\begin{{pmatrix}} {a} & {b} \\\\ {c} & {d} \\end{{pmatrix}}"
    return gold, [
        (f"\\begin{{bmatrix}}{a}&{b}\\\\{c}&{d}\\end{{bmatrix}}", True),
        (gold, True),
        (f"\\begin{{pmatrix}} {a} & {c} \\\\ {b} & {d} \\end{{pmatrix}}", b == c),
        (f"\\begin{{pmatrix}} {a} & {b} \\\\ {c} & {d + 1} \\end{{pmatrix}}", False),
    ]


def equations(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    m, k = rng.randint(2, 9), rng.randint(1, 20)
    if rng.random() < 0.5:
        return f"y = {m}x + {k}", [(f"y={k}+{m}x", True), (f"y = {m}x - {k}", False), (f"y = {m + 1}x + {k}", False)]
    return f"x = {k}", [(f"x={k}", True), (str(k), True), (f"x = {k + 1}", False)]


def percentages(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    p = rng.randint(1, 99)
    return f"{p}\\%", [(f"{p}\\%", True), (str(p), True), (f"{p}%", True), (f"{p + 5}\\%", False)]


def units(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    n = rng.randint(2, 500)
    unit = rng.choice(["cm", "meters", "dollars", "km", "square units"])
    return f"{n} \\text{{ {unit}}}", [
        (str(n), True),
        (f"{n}\\text{{ {unit}}}", True),
        (f"{n} {unit}", True),
        (f"{n + 1} \\text{{ {unit}}}", False),
    ]


def symbolic(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    a = rng.randint(1, 9)
    return f"x^2 + {2 * a}x + {a * a}", [
        (f"(x+{a})^2", True),
        (f"x^{{2}}+{2 * a}x+{a * a}", True),
        (f"(x-{a})^2", False),
        (f"x^2 + {a}x + {a * a}", False),
    ]


def pi_forms(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    k = rng.choice([2, 3, 4, 6])
    return f"\\dfrac{{\\pi}}{{{k}}}", [
        (f"\\frac{{\\pi}}{{{k}}}", True),
        (f"\\pi/{k}", True),
        (f"pi/{k}", True),
        (f"\\frac{{\\pi}}{{{k + 1}}}", False),
    ]


def plus_minus(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    a, b = rng.randint(1, 9), rng.choice([2, 3, 5])
    return f"{a} \\pm \\sqrt{{{b}}}", [
        (f"{a} \\pm \\sqrt{{{b}}}", True),
        (f"{a} - \\sqrt{{{b}}}, {a} + \\sqrt{{{b}}}", True),
        (f"{a} + \\sqrt{{{b}}}", False),
        (f"{a} - \\sqrt{{{b}}}", False),
    ]


def multi_part(rng: random.Random) -> tuple[str, list[tuple[str, bool]]]:
    a, b = rng.sample(range(-9, 10), 2)
    return f"{a}, {b}", [(f"{b}, {a}", True), (str(a), False), (f"{a}, {b}, {a + b + 20}", False)]


MAKERS: dict[str, Maker] = {
    "integer": integers,
    "fraction": fractions,
    "radical": radicals,
    "interval": intervals,
    "set": sets,
    "matrix": matrices,
    "equation": equations,
    "percent": percentages,
    "units": units,
    "symbolic": symbolic,
    "pi": pi_forms,
    "plus_minus": plus_minus,
    "multi_part": multi_part,
}
STEPS = [
    "First, we rewrite the expression and collect like terms, so $3x + 4x = 7x$.",
    "Substituting $x = 2$ gives $2^2 + 3 \\cdot 2 = 10$, which we keep for later.",
    "We check the boundary cases: when $n = 1$ the sum is $1$, and when $n = 2$ it is $3$.",
    "Multiplying both sides by $4$ we get $4y = 12 + 8 = 20$.",
    "The discriminant is $b^2 - 4ac = 25 - 24 = 1$, so there are two real roots.",
    "Let me double-check the arithmetic: $17 \\times 3 = 51$ and $51 - 6 = 45$.",
    "Hmm, wait. That is not right; going back to the previous step, the factor should be $\\frac{1}{2}$.",
    "Using the identity $\\sin^2\\theta + \\cos^2\\theta = 1$ simplifies the second term.",
    "So the area of the triangle is $\\frac{1}{2} \\cdot 6 \\cdot 8 = 24$.",
    "Now the remaining cases follow by symmetry, and nothing else changes.",
]


def completion(rng: random.Random, answer: str, numeric: bool) -> str:
    steps = []
    while sum(map(len, steps)) < rng.randint(1000, 2000):
        steps.append(rng.choice(STEPS))
    reasoning = " ".join(steps)
    style = rng.random()
    if numeric and style < 0.1:
        return f"{reasoning}\n#### {answer}"
    if numeric and style < 0.2:
        return f"{reasoning}\n\nSo the total is **{answer}**."
    if style < 0.3:
        return f"{reasoning}\n\nTherefore, the final answer is ${answer}$."
    return f"{reasoning}\n\nTherefore, the final answer is $\\boxed{{{answer}}}$."


def build_mix(items: int, group: int, seed: int = 0) -> list[tuple[Case, str]]:
    rng = random.Random(seed)
    kinds = list(MAKERS)
    out: list[tuple[Case, str]] = []
    while len(out) < items:
        kind = kinds[len(out) // group % len(kinds)]
        gold, candidates = MAKERS[kind](rng)
        for _ in range(group):
            answer, equal = rng.choice(candidates)
            numeric = kind in {"integer", "fraction", "percent"} and "\\" not in answer
            out.append((Case(kind, gold, answer, equal), completion(rng, answer, numeric)))
    return out[:items]


def math_server(workers: int, own_sessions: bool) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """``verifier serve --allow math`` in its own process; yields its URL and pid (to account its CPU time)."""
    options = {"math": {"workers": workers, "own_sessions": own_sessions}}
    return verifier_process("--allow", "math", env={"VERIFIER_PLUGIN_OPTIONS": json.dumps(options)})


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and every live descendant (Linux ``/proc``)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid in cpu:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += cpu[pid]
    return total


def math_verify_verdict(gold: str, text: str) -> bool:
    gold_parsed = math_verify.parse(f"\\boxed{{{gold}}}")
    answer_parsed = math_verify.parse(text)
    return bool(math_verify.verify(gold_parsed, answer_parsed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=640)
    parser.add_argument("--group", type=int, default=4, help="completions per problem (GRPO group size)")
    parser.add_argument("--batch", type=int, default=128, help="items per request to the service")
    parser.add_argument("--workers", type=int, default=2, help="math worker processes of the service")
    parser.add_argument(
        "--own-sessions",
        action="store_true",
        help="plugin option own_sessions: each worker in its own session (its own CPU share under Linux autogroup)",
    )
    parser.add_argument("--show", type=int, default=40, help="disagreements listed")
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    mix = build_mix(args.items, args.group)
    golds = len({case.gold for case, _ in mix})
    chars = statistics.mean(len(text) for _, text in mix)
    print(
        f"math: {len(mix)} items ({golds} distinct golds, group {args.group}), {chars:.0f} chars each on average; "
        f"{machine()}"
    )

    math_verify_verdict("1", "\\boxed{1}")  # imports and grammar warm-up, as a training process would have
    items = [{"completion": text, "reference": case.gold} for case, text in mix]
    baseline: list[bool] = []
    latencies: list[float] = []
    results = []
    base_s = service_s = base_cpu_s = service_cpu_s = 0.0
    with math_server(args.workers, args.own_sessions) as (url, pid), VerifierClient(url, timeout=600) as client:
        client.verify(items[: args.batch], rewards=["math"])  # warm-up: every worker has parsed something
        # Alternate a batch of each, so that both see the same share of a machine others are using too.
        for i in range(0, len(items), args.batch):
            start, cpu_start = time.perf_counter(), time.process_time()
            for case, text in mix[i : i + args.batch]:
                t0 = time.perf_counter()
                baseline.append(math_verify_verdict(case.gold, text))
                latencies.append(time.perf_counter() - t0)
            base_s += time.perf_counter() - start
            base_cpu_s += time.process_time() - cpu_start
            start, cpu_start = time.perf_counter(), tree_cpu_s(pid)
            results.extend(client.verify(items[i : i + args.batch], rewards=["math"]).results)
            service_s += time.perf_counter() - start
            service_cpu_s += tree_cpu_s(pid) - cpu_start
    latencies.sort()
    print(
        f"  baseline  math-verify parse+verify, sequential, in-process  {len(mix) / base_s:7.1f} items/s  "
        f"(median {statistics.median(latencies) * 1e3:.1f} ms, "
        f"p99 {latencies[int(0.99 * len(latencies))] * 1e3:.1f} ms)"
    )
    service = [r.scores["math"] for r in results]
    details = [r.details.get("math", {}) for r in results]
    errors = [r.errors.get("math") for r in results]
    print(
        f"  service   verifier serve ({args.workers} math workers{', own sessions' if args.own_sessions else ''}), "
        f"real client, batches of {args.batch}  "
        f"{len(mix) / service_s:7.1f} items/s"
    )
    ratio = base_s / service_s
    print(f"ratio service / math-verify sequential: {ratio:.2f}x  (target >= 1.8x on 2 cores)")
    n = len(mix)
    print(
        f"CPU time per item: math-verify {base_cpu_s / n * 1e3:.1f} ms, service {service_cpu_s / n * 1e3:.1f} ms "
        f"(server, forkserver and workers; the client's share excluded); wall clock over CPU: math-verify "
        f"{base_s / max(base_cpu_s, 1e-9):.1f}x, service {service_s * args.workers / max(service_cpu_s, 1e-9):.1f}x "
        f"per worker (1.0x on an idle machine)"
    )

    agree = sum((s == 1.0) == b for s, b in zip(service, baseline, strict=True))
    built = [case.equal for case, _ in mix]
    print(f"agreement with math-verify: {agree}/{len(mix)} ({100 * agree / len(mix):.1f}%)")
    print(
        f"matches the label the mix was built with: service "
        f"{sum((s == 1.0) == e for s, e in zip(service, built, strict=True))}/{len(mix)}, math-verify "
        f"{sum(b == e for b, e in zip(baseline, built, strict=True))}/{len(mix)}"
    )
    unscored = [i for i, s in enumerate(service) if s is None]
    if unscored:
        print(f"null scores: {len(unscored)}, first error: {errors[unscored[0]]}")

    disagreements = [i for i, (s, b) in enumerate(zip(service, baseline, strict=True)) if (s == 1.0) != b]
    by_kind: dict[tuple[str, str, str, str], int] = {}
    for i in disagreements:
        case = mix[i][0]
        right = "service" if (service[i] == 1.0) == case.equal else "math-verify"
        key = (
            case.kind,
            case.gold,
            case.answer,
            f"mv={baseline[i]} service={service[i]} ({details[i].get('reason')}) right={right}",
        )
        by_kind[key] = by_kind.get(key, 0) + 1
    print(f"disagreements: {len(disagreements)} items, {len(by_kind)} distinct (kind | gold | answer | verdicts):")
    for (kind, gold, answer, verdicts), count in list(by_kind.items())[: args.show]:
        print(f"  {count:3d}x {kind:10s} | {gold} | {answer} | {verdicts}")


if __name__ == "__main__":
    main()
