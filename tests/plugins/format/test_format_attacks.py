"""Attacks on ``format`` and ``tag_count``, each with its right score: invisible content, quoted tags,
reversed pairs, and the honest completions that must still pass (false negatives)."""

from __future__ import annotations

from typing import Any

import pytest
from verifier_format.tags import FormatParams, check_format
from verifier_format.visible import has_visible

from tests.plugins.format._scoring import format_reason, score_one
from verifier import split_reasoning

pytestmark = pytest.mark.anyio

INVISIBLE = {
    "zero width space": "\u200b",
    "zero width non-joiner": "\u200c",
    "zero width joiner": "\u200d",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "braille blank": "\u2800",
    "hangul filler": "\u3164",
    "hangul choseong filler": "\u115f",
    "hangul jungseong filler": "\u1160",
    "halfwidth hangul filler": "\uffa0",
    "combining acute alone": "\u0301",
    "combining grapheme joiner": "\u034f",
    "variation selector 16": "\ufe0f",
    "variation selector 256": "\U000e01ef",
    "tag latin a": "\U000e0041",
    "ideographic space": "\u3000",
    "em space": "\u2003",
    "no-break space": "\u00a0",
    "narrow no-break space": "\u202f",
    "line separator": "\u2028",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "left-to-right mark": "\u200e",
    "arabic letter mark": "\u061c",
    "mongolian vowel separator": "\u180e",
    "invisible times": "\u2062",
    "khmer inherent vowel": "\u17b4",
    "private use": "\ue000",
    "unassigned": "\U0003fffe",
}
MIXED_BLANK = "".join(INVISIBLE.values()) + " \t\n"


@pytest.mark.parametrize("blank", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_invisible_reasoning_is_empty(blank: str) -> None:
    assert await format_reason(f"<think>{blank * 3}</think>The answer is 4.") == (0.0, "empty_reasoning")


@pytest.mark.parametrize("blank", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_invisible_answer_is_missing(blank: str) -> None:
    assert await format_reason(f"<think>2 + 2 = 4</think>{blank * 3}") == (0.0, "missing_answer")


@pytest.mark.parametrize("blank", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_invisible_answer_inside_answer_tags_is_empty(blank: str) -> None:
    result = await format_reason(f"<think>r</think><answer>{blank}</answer>", answer_tag="answer")
    assert result == (0.0, "empty_answer")


async def test_the_issue_zero_width_space_completion_scores_zero() -> None:
    assert await format_reason("<think>\u200b</think>\u200b") == (0.0, "empty_reasoning")
    assert await format_reason("<think>ok</think>\u200b") == (0.0, "missing_answer")
    assert await format_reason(f"<think>{MIXED_BLANK}</think>{MIXED_BLANK}") == (0.0, "empty_reasoning")


@pytest.mark.parametrize(
    "completion",
    [
        "<think>思考</think>٤",  # an Arabic-Indic digit is visible
        "<think>e\u0301</think>\u00e9",  # a letter carrying a combining mark
        "<think>a</think>\U0001f642",  # an emoji is a symbol
        "<think>a</think>\u200b4\u200b",  # invisible padding around a visible answer
        "\u200b<think>a</think>b",  # nothing visible before the reasoning
        "<think>\u0391\u03b8</think>\u05d0",  # Greek reasoning, a Hebrew answer
        "<think>think <b>bold</b></think>**4**",  # markup that is not the reasoning tag
    ],
)
async def test_visible_content_in_any_script_passes(completion: str) -> None:
    assert await format_reason(completion) == (1.0, None)


async def test_invisible_text_before_the_reasoning_fails_only_the_strict_layout() -> None:
    assert await format_reason("\u200b<think>\nr\n</think>\nanswer", strict=True) == (0.0, "text_before_reasoning")
    assert await format_reason("\u2800 <think>r</think>a") == (1.0, None)
    assert await format_reason("\u2800x<think>r</think>a") == (0.0, "text_before_reasoning")


@pytest.mark.parametrize(
    "completion",
    [
        "```\n<think>a</think>\n```\n4",
        "~~~text\n<think>a</think>\n~~~\n4",
        "`<think>a</think>` 4",
        "<think>a\n```\n</think>\n```\n4",  # the close tag is quoted: the reasoning never ended
        "<think>a `</think>` 4",
    ],
)
async def test_format_refuses_reasoning_tags_quoted_inside_code(completion: str) -> None:
    assert await format_reason(completion) == (0.0, "reasoning_tag_inside_code")


async def test_backticks_that_open_no_code_do_not_hide_tags() -> None:
    # Mid-line backticks open no fenced block (CommonMark), so this close tag is a real one.
    assert await format_reason("<think>a ```\n</think>\n``` 4") == (1.0, None)


async def test_code_inside_the_reasoning_and_answer_is_fine() -> None:
    assert await format_reason("<think>```py\nprint(4)\n```</think>\n`4`") == (1.0, None)
    result = await format_reason("<think>r</think><answer>`42`</answer>", answer_tag="answer")
    assert result == (1.0, None)
    quoted = await format_reason("<think>r</think>`<answer>42</answer>`", answer_tag="answer")
    assert quoted == (0.0, "answer_tag_inside_code")


@pytest.mark.parametrize(
    ("completion", "params", "reason"),
    [
        ("</think>a<think>4", {}, "reasoning_tags_out_of_order"),
        ("<think>r</think></answer>4<answer>", {"answer_tag": "answer"}, "answer_tags_out_of_order"),
        ("<think>r</think><answer>4</answer>\u200b", {"answer_tag": "answer"}, None),
        ("<think>r</think>\u2800<answer>4</answer>", {"answer_tag": "answer"}, None),
        ("<think>r</think>so<answer>4</answer>", {"answer_tag": "answer"}, "text_outside_answer_tags"),
        ("a</think>b", {}, "missing_reasoning_open_tag"),  # the model never opened it, and no one said so
        ("a</think>b", {"think_in_prompt": True}, None),
        ("\u200b</think>b", {"think_in_prompt": True}, "empty_reasoning"),
        ("a</think>b</think>c", {"think_in_prompt": True}, "repeated_reasoning_tags"),
        ("a</think>\u3164", {"think_in_prompt": True}, "missing_answer"),
        ("<reasoning>r</reasoning><think>x", {"think_tag": "reasoning"}, None),  # another tag is just text
        ("<think>r</think>4", {"think_tag": "reasoning"}, "missing_reasoning_open_tag"),
    ],
)
async def test_tag_order_prefilled_and_renamed_tags(
    completion: str, params: dict[str, Any], reason: str | None
) -> None:
    assert await format_reason(completion, **params) == ((1.0, None) if reason is None else (0.0, reason))


async def test_answer_tag_equal_to_the_reasoning_tag_is_refused() -> None:
    with pytest.raises(Exception, match="answer_tag must differ"):
        await format_reason("<think>a</think>b", answer_tag="think")


ACCEPTED = [
    ("<think>2 + 2 is 4</think>\nThe answer is 4.", {}),
    ("  \n<think>reasoning</think>answer", {}),
    ("<think>\nr\n</think>\n<answer>\n42\n</answer>", {"strict": True, "answer_tag": "answer"}),
    ("r</think>4", {"think_in_prompt": True}),
    ("<think>```py\nx = 1\n```</think>`x`", {}),
    ("<r1>a</r1>\u200bb", {"think_tag": "r1"}),
]


@pytest.mark.parametrize(("completion", "params"), ACCEPTED)
def test_what_format_accepts_is_what_split_reasoning_reads(completion: str, params: dict[str, Any]) -> None:
    formatted = FormatParams(**params)
    assert check_format(completion, formatted) is None
    split = split_reasoning(completion, formatted)
    assert split.finished and split.answer is not None
    assert has_visible(split.reasoning) and has_visible(split.answer)
    assert f"<{formatted.think_tag}>" not in split.answer and f"</{formatted.think_tag}>" not in split.answer


async def _tag_count(completion: str, **params: Any) -> float | None:
    return (await score_one("tag_count", completion, params)).scores["tag_count"]


@pytest.mark.parametrize(
    ("completion", "params", "expected"),
    [
        ("```\n<think>a</think>\n```\n4", {}, 0.0),  # the whole format quoted in a fenced block
        ("~~~\n<think>a</think>\n~~~\n4", {}, 0.0),
        ("`<think>` a `</think>` 4", {}, 0.0),  # inline code
        ("```\n<think>a</think>4", {}, 0.0),  # a fence never closed runs to the end
        ("```\n<think>a</think>\n```\n<think>b</think>c", {}, 0.0),  # a quoted copy makes the real tags repeated
        ("<think>a</think>`<answer>4</answer>`", {"answer_tag": "answer"}, 0.5),
        ("</think>a<think></answer>b<answer>", {"answer_tag": "answer"}, 0.0),  # both pairs reversed
        ("<think>a</think></answer>b<answer>", {"answer_tag": "answer"}, 0.5),  # the answer pair reversed
        ("<answer>b</answer><think>a</think>", {"answer_tag": "answer"}, 0.5),  # pairs in the wrong order
        ("<think>a<answer>b</answer></think>", {"answer_tag": "answer"}, 0.5),  # the answer nested in the reasoning
        ("a `</think>` b", {"think_in_prompt": True}, 0.0),
        ("<THINK>a</THINK>b", {}, 0.0),
        ("<think>```py\nx = 1\n```</think>`x`", {}, 1.0),  # code inside the reasoning is fine
        ("<think>a</think><answer>b</answer>", {"answer_tag": "answer"}, 1.0),
        ("a</think><answer>b</answer>", {"answer_tag": "answer", "think_in_prompt": True}, 1.0),
        ("<think>a</think>\n</think>", {}, 0.5),
    ],
)
async def test_tag_count_attacks(completion: str, params: dict[str, Any], expected: float) -> None:
    assert await _tag_count(completion, **params) == pytest.approx(expected)


async def test_tag_count_names_the_tags_quoted_inside_code() -> None:
    result = await score_one("tag_count", "```\n<think>a</think>\n```")
    assert result.details["tag_count"]["inside_code"] == ["</think>", "<think>"]
