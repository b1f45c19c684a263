from __future__ import annotations

import statistics
from typing import Any

import pytest

from tests.verifier import plugins_for_tests
from verifier.errors import InvalidRequestError, LimitExceededError, UnknownRewardError
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.schemas import VerifyRequest, VerifyResponse
from verifier.scoring import BatchScorer
from verifier.wire import score_request, verify_response

pytestmark = pytest.mark.anyio


def _scorer(**kwargs: Any) -> BatchScorer:
    pm = create_plugin_manager(load_entrypoints=False, plugins={"tests": plugins_for_tests})
    return BatchScorer(RewardRegistry.from_plugin_manager(pm), **kwargs)


async def _score(body: dict[str, Any], **kwargs: Any) -> VerifyResponse:
    return verify_response(await _scorer(**kwargs).score(score_request(VerifyRequest.model_validate(body))))


async def test_every_item_gets_one_result_in_request_order_with_ids_echoed() -> None:
    items = [{"id": f"i{n}", "completion": str(n)} for n in range(50)]
    response = await _score({"rewards": ["echo"], "items": items})
    assert [r.id for r in response.results] == [f"i{n}" for n in range(50)]
    assert [r.scores["echo"] for r in response.results] == [float(n) for n in range(50)]


async def test_reward_is_the_weighted_sum_of_non_null_scores() -> None:
    response = await _score(
        {
            "rewards": {"echo": 2.0, "async_length": 0.5},
            "items": [{"completion": "3"}, {"completion": "none"}],
        }
    )
    first, second = response.results
    assert first.reward == pytest.approx(2.0 * 3 + 0.5 * 1)
    assert second.scores == {"echo": None, "async_length": 4.0}
    assert second.reward == pytest.approx(0.5 * 4)


async def test_reward_is_null_when_no_score_applies() -> None:
    response = await _score({"rewards": ["echo"], "items": [{"completion": "none"}]})
    assert response.results[0].reward is None
    assert response.results[0].errors == {}


async def test_a_zero_weighted_score_alone_does_not_make_the_item_scored() -> None:
    response = await _score(
        {"rewards": {"echo": 1.0, "async_length": 0.0}, "items": [{"completion": "none"}, {"completion": "2"}]}
    )
    unscored, scored = response.results
    assert unscored.scores == {"echo": None, "async_length": 4.0} and unscored.reward is None  # not 0.0
    assert scored.reward == pytest.approx(2.0)
    only_zero = await _score({"rewards": {"async_length": 0.0}, "items": [{"completion": "none"}]})
    assert only_zero.results[0].reward == 0.0  # every weight zero: scores for the logs, as before


async def test_a_failing_reward_costs_only_its_items_and_never_becomes_zero() -> None:
    response = await _score(
        {
            "items": [
                {"completion": "1", "rewards": ["echo", "explode"]},
                {"completion": "2", "rewards": ["echo"]},
            ],
        }
    )
    first, second = response.results
    assert first.scores == {"echo": 1.0, "explode": None}
    assert "RuntimeError: the pool is gone" in first.errors["explode"]
    assert first.reward == 1.0  # the weighted sum of what did score
    assert second.scores == {"echo": 2.0} and second.errors == {}


async def test_a_per_item_error_is_reported_for_that_item_only() -> None:
    response = await _score({"rewards": ["echo"], "items": [{"completion": "boom"}, {"completion": "5"}]})
    assert response.results[0].errors == {"echo": "boom for this item"}
    assert response.results[0].scores == {"echo": None}
    assert response.results[1].scores == {"echo": 5.0}


@pytest.mark.parametrize(
    ("reward", "message"),
    [
        ("wrong_count", "returned 3 results for 2 items"),
        ("not_finite", "non-finite"),
        ("base_exc", "BaseExceptionish: timeout from a library"),
    ],
)
async def test_misbehaving_rewards_become_null_plus_error(reward: str, message: str) -> None:
    response = await _score({"rewards": [reward], "items": [{"completion": "a"}, {"completion": "b"}]})
    for result in response.results:
        assert result.scores == {reward: None}
        assert message in result.errors[reward]


async def test_a_reward_over_its_timeout_becomes_null_plus_error() -> None:
    response = await _score(
        {"items": [{"completion": "1", "rewards": ["slow", "echo"]}]}, reward_timeout_s=0.05
    )
    result = response.results[0]
    assert result.scores == {"slow": None, "echo": 1.0}
    assert "did not finish within 0.05 s" in result.errors["slow"]


async def test_item_rewards_and_params_override_the_request_defaults() -> None:
    response = await _score(
        {
            "rewards": ["echo"],
            "params": {"echo": {"scale": 10.0, "offset": 1.0}},
            "items": [
                {"completion": "1"},
                {"completion": "1", "params": {"echo": {"offset": 0.0}}},
                {"completion": "1", "rewards": {"async_length": 3.0}},
            ],
        }
    )
    assert [r.scores for r in response.results] == [{"echo": 11.0}, {"echo": 10.0}, {"async_length": 1.0}]
    assert response.results[2].reward == 3.0


async def test_unknown_reward_names_are_listed_with_the_available_ones() -> None:
    with pytest.raises(UnknownRewardError) as info:
        await _score({"rewards": ["echo", "ecoh"], "items": [{"completion": "1"}]})
    assert info.value.details["unknown"] == ["ecoh"]
    assert "echo" in info.value.details["available"]


async def test_params_for_an_unknown_reward_are_rejected() -> None:
    with pytest.raises(UnknownRewardError, match="'ecoh'"):
        await _score({"rewards": ["echo"], "params": {"ecoh": {}}, "items": [{"completion": "1"}]})


async def test_invalid_params_name_the_field_path() -> None:
    with pytest.raises(InvalidRequestError) as info:
        await _score(
            {
                "rewards": ["echo"],
                "items": [{"completion": "1"}, {"completion": "1", "params": {"echo": {"scale": "big"}}}],
            }
        )
    assert info.value.details["errors"][0]["loc"] == ["items", 1, "params", "echo", "scale"]
    with pytest.raises(InvalidRequestError) as info:
        await _score({"rewards": ["echo"], "params": {"echo": {"typo": 1}}, "items": [{"completion": "1"}]})
    assert info.value.details["errors"][0]["loc"] == ["params", "echo", "typo"]


async def test_an_item_without_rewards_is_a_validation_error() -> None:
    with pytest.raises(InvalidRequestError, match=r"items\.1\.rewards"):
        await _score({"items": [{"completion": "1", "rewards": ["echo"]}, {"completion": "2"}]})


async def test_listing_a_reward_twice_is_a_validation_error() -> None:
    with pytest.raises(InvalidRequestError, match="listed twice"):
        await _score({"rewards": ["echo", "echo"], "items": [{"completion": "1"}]})


async def test_batch_over_the_item_limit_names_the_limit() -> None:
    with pytest.raises(LimitExceededError) as info:
        await _score({"rewards": ["echo"], "items": [{"completion": "1"}] * 3}, max_items=2)
    assert info.value.details == {"limit": "items per batch", "value": 3, "maximum": 2}


async def test_rewards_that_read_scores_run_after_the_verdicts_exist() -> None:
    response = await _score(
        {"rewards": ["seen_scores", "echo", "async_length"], "items": [{"completion": "7"}]}
    )
    result = response.results[0]
    assert result.details["seen_scores"]["scores"] == {"echo": 7.0, "async_length": 1.0}


async def test_empty_batch_returns_no_results() -> None:
    assert (await _score({"rewards": ["echo"], "items": []})).results == []


async def test_group_advantages_match_trl_group_normalisation() -> None:
    values = [1.0, 0.0, 0.5, 0.5, 2.0, 2.0, 0.0, 1.0]
    response = await _score(
        {"rewards": ["echo"], "group_size": 4, "items": [{"completion": str(v)} for v in values]}
    )
    expected = []
    for start in (0, 4):
        group = values[start : start + 4]
        mean, std = statistics.fmean(group), statistics.stdev(group)  # torch.std is the sample std
        expected += [(v - mean) / (std + 1e-4) for v in group]
    assert [r.advantage for r in response.results] == pytest.approx(expected)


async def test_advantages_scale_by_batch_or_not_at_all_like_trl() -> None:
    values = [1.0, 0.0, 3.0, 3.0]
    items = [{"completion": str(v)} for v in values]
    batch = await _score({"rewards": ["echo"], "group_size": 2, "scale_rewards": "batch", "items": items})
    std = statistics.stdev(values)
    assert [r.advantage for r in batch.results] == pytest.approx(
        [0.5 / (std + 1e-4), -0.5 / (std + 1e-4), 0.0, 0.0]
    )
    plain = await _score({"rewards": ["echo"], "group_size": 2, "scale_rewards": "none", "items": items})
    assert [r.advantage for r in plain.results] == pytest.approx([0.5, -0.5, 0.0, 0.0])


async def test_an_unscorable_item_is_left_out_of_its_group_baseline_like_trl() -> None:
    response = await _score(
        {
            "rewards": ["echo"],
            "group_size": 3,
            "scale_rewards": "none",
            "items": [{"completion": "none"}, {"completion": "2"}, {"completion": "4"}],
        }
    )
    # The null item gets 0.0 and the baseline is the mean of the scored ones (3.0), not of (0, 2, 4).
    assert [r.advantage for r in response.results] == pytest.approx([0.0, -1.0, 1.0])


async def test_batch_that_does_not_split_into_groups_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="groups of 2"):
        await _score({"rewards": ["echo"], "group_size": 2, "items": [{"completion": "1"}] * 3})
