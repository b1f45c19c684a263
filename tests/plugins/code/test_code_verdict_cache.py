"""The ``code`` reward in the verdict cache (real bubblewrap): a verdict reached within the time limits is
reused; one where a run hit its time limit is not, since on a loaded machine a correct program can too."""

from __future__ import annotations

import pytest

from verifier.runtime import running
from verifier.schemas import VerifyRequest
from verifier.settings import Settings
from verifier.wire import score_request, verify_response

pytestmark = pytest.mark.anyio

ECHO_TWICE = {"tests": [{"input": "21\n", "output": "42\n"}, {"input": "2\n", "output": "4\n"}]}
ITEMS = [
    {"completion": "print(int(input()) * 2)", "reference": ECHO_TWICE},
    {"completion": "while True:\n    pass", "reference": ECHO_TWICE},
]


async def test_a_timed_out_verdict_is_scored_again_and_a_passing_one_is_reused() -> None:
    settings = Settings(
        plugins_allow=["code"], plugin_options={"code": {"isolation": "bwrap"}}, verdict_cache_bytes=2**22
    )
    request = VerifyRequest.model_validate(
        {"rewards": ["code"], "items": ITEMS, "params": {"code": {"time_limit_s": 1}}}
    )
    async with running(settings) as runtime:
        cache = runtime.scorer.cache
        assert cache is not None
        cache.clear()
        before = cache.stats().lookups.get("code", [0, 0])
        first = verify_response(await runtime.scorer.score(score_request(request)))
        second = verify_response(await runtime.scorer.score(score_request(request)))
    assert [r.scores["code"] for r in first.results] == [r.scores["code"] for r in second.results] == [1.0, 0.0]
    hits, misses = (now - then for now, then in zip(cache.stats().lookups["code"], before, strict=True))
    assert (hits, misses) == (1, 3)  # the loop missed both times; the passing program was scored once
    assert len(cache) == 1
