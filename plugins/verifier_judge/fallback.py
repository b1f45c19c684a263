"""The ``judge_fallback`` reward: a rule reward decides first, the judge only where the rule missed.

A rule (``math``) is cheap, exact and blind to answers it cannot parse; a judge reads anything and costs a
call. Requested with the rule for the same item (``{"math": 0, "judge_fallback": 1}``), it reads the rule's
score (``reads_scores``) and:

- rule score at or above ``rule_threshold`` (1.0): the rule's score stands; the judge is not asked;
- below it (a wrong answer, or the rule found none): the judge decides, with the ``fallback_template``
  (``correctness``) unless the request names one; its failure is ``null`` + error, never the rule's 0.0;
- ``null`` (the rule did not apply or failed: no reference, a gold it cannot parse, a dead worker pool):
  fail closed by default, ``null`` + error and no call, since the score alone does not say whether the rule
  failed or did not apply, and a judge asked for every rule outage would cost per outage, not per miss.
  ``on_rule_null: judge`` asks the judge instead (data sets whose golds the rule cannot read).

So the judge's cost scales with the rule's misses. It shares the ``judge`` reward's client, limits and
cache, and its calls are counted under ``reward="judge"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verifier import RewardItem, Score
from verifier_judge.options import JudgeFallbackParams
from verifier_judge.reward import JudgeReward


class JudgeFallback:
    """Rule first, then the judge for the items the rule did not pass."""

    def __init__(self, judge: JudgeReward) -> None:
        self.judge = judge

    def _by_rule(self, item: RewardItem, params: JudgeFallbackParams) -> Score | None:
        """The item's score when the rule settles it (or cannot be read), ``None`` when the judge must decide."""
        rule = params.rule_reward
        if rule not in item.scores:
            return Score(
                None,
                {"rule_reward": rule},
                f"judge_fallback needs the verdict of reward {rule!r}: request it for this item (weight 0 is fine)",
            )
        value = item.scores[rule]
        base = {"rule_reward": rule, "rule_score": value}
        if value is None:
            if params.on_rule_null == "judge":
                return None
            return Score(
                None,
                base | {"decided_by": "none"},
                f"rule reward {rule!r} gave no score, and judge_fallback fails closed on that "
                "(on_rule_null: judge asks the judge instead)",
            )
        if value >= params.rule_threshold:
            return Score(value, base | {"decided_by": "rule"})
        return None

    async def __call__(self, items: Sequence[RewardItem[JudgeFallbackParams]]) -> list[Score]:
        out: list[Score | None] = []
        jobs: list[tuple[RewardItem, JudgeFallbackParams]] = []
        for item in items:
            params = item.params
            settled = self._by_rule(item, params)
            out.append(settled)
            if settled is None:
                jobs.append((item, params))
        judged = iter(await self.judge.judge(jobs, self.judge.options.fallback_template) if jobs else [])
        params_of = iter(params for _, params in jobs)
        results = []
        for item, settled in zip(items, out, strict=True):
            if settled is not None:
                results.append(settled)
                continue
            results.append(_from_judge(item, next(params_of), next(judged)))
        return results


def _from_judge(item: RewardItem, params: JudgeFallbackParams, score: Score) -> Score:
    details: dict[str, Any] = {
        "rule_reward": params.rule_reward,
        "rule_score": item.scores[params.rule_reward],
        "decided_by": "judge",
        **score.details,
    }
    value = score.value
    if value is not None and params.judge_threshold is not None:
        details["judge_score"] = value
        value = 1.0 if value >= params.judge_threshold else 0.0
    return Score(value, details, score.error)
