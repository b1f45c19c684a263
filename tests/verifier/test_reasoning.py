"""The one definition of where the reasoning ends (verifier.reasoning), shared by every reward."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from verifier import ReasoningTags, split_reasoning

PREFILLED = ReasoningTags(think_in_prompt=True)


@pytest.mark.parametrize(
    ("text", "tags", "reasoning", "answer", "source"),
    [
        ("<think>2+2=4</think>\nThe answer is 4.", None, "2+2=4", "\nThe answer is 4.", "think_block"),
        ("The answer is 4.", None, "The answer is 4.", "The answer is 4.", "no_tags"),
        # the template opened the tag: the completion starts inside the reasoning
        ("2+2=4\n</think>\n4", PREFILLED, "2+2=4\n", "\n4", "prefilled_think"),
        # ... and a closing tag with no opening one reads the same without being told
        ("2+2=4\n</think>\n4", None, "2+2=4\n", "\n4", "prefilled_think"),
        # never closed: no answer, whatever it says
        ("Maybe it is \\boxed{3}. Hmm, let me check again and", PREFILLED, None, None, "unclosed_think"),
        ("<think>Maybe it is \\boxed{3}. Hmm", None, "Maybe it is \\boxed{3}. Hmm", None, "unclosed_think"),
        # reopened after the last close: the reasoning did not end
        ("<think>a</think> \\boxed{3} <think>wait", None, "a\nwait", None, "unclosed_think"),
        ("a</think> \\boxed{3} <think>wait", PREFILLED, None, None, "unclosed_think"),
        # several blocks: all of them are reasoning, the answer follows the last
        ("<think>a</think>x<think>b</think>y", None, "a\nb", "y", "think_block"),
    ],
)
def test_split_reasoning(
    text: str, tags: ReasoningTags | None, reasoning: str | None, answer: str | None, source: str
) -> None:
    split = split_reasoning(text, tags)
    assert split.source == source
    assert split.answer == answer
    assert split.finished is (answer is not None)
    if reasoning is not None:
        assert split.reasoning == reasoning


def test_renamed_tag_is_the_only_tag() -> None:
    tags = ReasoningTags(think_tag="reasoning")
    assert split_reasoning("<reasoning>r</reasoning>A", tags).answer == "A"
    # the default tag means nothing under a renamed one
    assert split_reasoning("<think>r</think>A", tags).source == "no_tags"
    assert split_reasoning("<reasoning>r <think>x</think> A", tags).answer is None


@pytest.mark.parametrize("name", ["", "1think", "th ink", "think>", "a" * 40])
def test_bad_tag_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        ReasoningTags(think_tag=name)
