"""The ``language`` reward: the share of the chain of thought's counted words in the target language."""

from __future__ import annotations

import itertools
import statistics

import pytest
from verifier_language.detectors import get_detector
from verifier_language.labelling import label
from verifier_language.text import mask
from verifier_language.words import ZH_CHARS_PER_WORD, count_words, segments

from tests.plugins.language._scoring import load, score_batch, score_one, score_with_prompt, sentences, spaced_words

FOREIGN = ("fr", "de", "es", "ru", "it", "pt")


def _compose(target: str, others: list[str], n_target: int, n_other: int, shift: int) -> tuple[str, float]:
    """A reasoning of whole sentences, interleaved, and its true share of target words."""
    pool = sentences(target)
    own = [pool[(shift + i) % len(pool)] for i in range(n_target)]
    foreign = [sentences(other)[(shift + i) % len(sentences(other))] for i, other in
               zip(range(n_other), itertools.cycle(others), strict=False)]
    lines = [s for pair in itertools.zip_longest(own, foreign) for s in pair if s is not None]
    target_words = sum(spaced_words(s) for s in own)
    return "\n".join(lines), target_words / (target_words + sum(spaced_words(s) for s in foreign))


@pytest.mark.parametrize(("n_target", "n_other"), [(4, 0), (3, 1), (2, 2), (1, 3), (0, 4), (5, 2)])
@pytest.mark.parametrize("other", FOREIGN)
def test_score_is_the_share_of_target_words_in_composed_reasoning(n_target: int, n_other: int, other: str) -> None:
    reasoning, expected = _compose("en", [other], n_target, n_other, shift=n_other)
    result = score_one(f"<think>{reasoning}</think>\nThe answer is 4.", target="en")
    assert result.scores["language"] == pytest.approx(expected)
    assert result.details["language"]["target_words"] + result.details["language"]["languages"].get(other, 0) \
        == pytest.approx(result.details["language"]["words"])


@pytest.mark.parametrize("target", ["fr", "de", "ru", "es"])
def test_non_english_targets_score_english_sentences_as_foreign(target: str) -> None:
    reasoning, expected = _compose(target, ["en"], 3, 2, shift=1)
    assert 0 < expected < 1
    assert score_one(f"<think>{reasoning}</think>", target=target).scores["language"] == pytest.approx(expected)


def test_only_the_think_block_is_judged() -> None:
    english, french = sentences("en")[0], sentences("fr")[0]
    assert score_one(f"<think>{english}</think>\n{french}", target="en").scores["language"] == 1.0
    assert score_one(f"<think>{french}</think>\n{english}", target="en").scores["language"] == 0.0


def test_whole_completion_is_judged_when_there_is_no_think_block() -> None:
    english, french = sentences("en")[0], sentences("fr")[0]
    result = score_one(f"{english}\n{french}", target="en")
    assert result.details["language"]["reasoning"] == "no_tags"
    assert result.scores["language"] == pytest.approx(
        spaced_words(english) / (spaced_words(english) + spaced_words(french))
    )


def test_reasoning_tag_and_scope_are_configurable() -> None:
    english, french = sentences("en")[1], sentences("fr")[1]
    completion = f"<reason>{english}</reason>\n<think>{french}</think>"
    assert score_one(completion, target="en", think_tag="reason").scores["language"] == 1.0
    assert score_one(completion, target="en").scores["language"] == 0.0
    whole = score_one(f"<think>{english}</think>{french}", target="en", scope="completion")
    assert whole.details["language"]["reasoning"] == "completion"
    assert 0.0 < (whole.scores["language"] or 0.0) < 1.0


def test_prefilled_and_unclosed_think_blocks_are_the_reasoning() -> None:
    english, french = sentences("en")[2], sentences("fr")[2]
    prefilled = score_one(f"{english}</think>\n{french}", target="en")
    assert (prefilled.scores["language"], prefilled.details["language"]["reasoning"]) == (1.0, "prefilled_think")
    cut = score_one(f"<think>{french}", target="fr")
    assert (cut.scores["language"], cut.details["language"]["reasoning"]) == (1.0, "unclosed_think")


def test_target_comes_from_params_then_prompt_then_english() -> None:
    french_reasoning = f"<think>{sentences('fr')[3]} {sentences('fr')[4]}</think>"
    french_prompt = "Combien de nombres premiers y a-t-il entre dix et trente ? Expliquez votre raisonnement."
    by_params = score_with_prompt(french_reasoning, french_prompt, target="en")
    assert (by_params.scores["language"], by_params.details["language"]["target_source"]) == (0.0, "params")
    by_prompt = score_with_prompt(french_reasoning, french_prompt)
    assert by_prompt.details["language"]["target"] == "fr"
    assert (by_prompt.scores["language"], by_prompt.details["language"]["target_source"]) == (1.0, "prompt")
    by_default = score_one(french_reasoning)
    assert by_default.details["language"]["target"] == "en"
    assert (by_default.scores["language"], by_default.details["language"]["target_source"]) == (0.0, "default")
    math_prompt = score_with_prompt(french_reasoning, "$x^2 = 16$", default_target="fr")
    assert (math_prompt.scores["language"], math_prompt.details["language"]["target_source"]) == (1.0, "default")


def test_prompt_language_is_the_last_user_message_of_a_chat_prompt() -> None:
    prompt = [
        {"role": "system", "content": "You are a helpful assistant. Think step by step before answering."},
        {"role": "user", "content": "Сколько будет семь умножить на восемь? Объясните решение."},
    ]
    result = score_with_prompt(f"<think>{sentences('ru')[0]}</think>", prompt)
    assert result.details["language"]["target"] == "ru"
    assert result.scores["language"] == 1.0


def test_chinese_prompt_sets_a_chinese_target() -> None:
    result = score_with_prompt(f"<think>{sentences('en')[0]}</think>", "一个三角形的三个内角之和是多少度？")
    assert (result.details["language"]["target"], result.scores["language"]) == ("zh", 0.0)


def test_bcp47_targets_are_cut_to_their_language() -> None:
    result = score_one(f"<think>{sentences('zh')[0]}</think>", target="zh-TW")
    assert (result.details["language"]["target"], result.scores["language"]) == ("zh", 1.0)


EXCLUDED = [
    "```python\nfor k in range(10):\n    total = total + k * k\nprint(total)\n```",
    "~~~\nx = 3\n~~~",
    "`f(x) = x^2` `dp[i][j]` `a == b`",
    "$\\frac{a}{b} + \\sqrt{c}$ and $\\triangle ABC \\cong \\triangle DEF$",
    "$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$",
    "\\[\\text{ } 42\\]",
    "\\begin{align} x &= 3 \\\\ y &= 4 \\end{align}",
    "12345 3.14 1,000,000 2^10 12:00 x_1 a.b_c",
    "5 cm and 3 kg, $4\\text{ km}$",
    "https://fr.wikipedia.org/wiki/Nombre_premier_de_Mersenne www.beispiel-seite.de/ueber-uns",
    "<answer></answer> <br/>",
]


@pytest.mark.parametrize("excluded", EXCLUDED)
def test_code_math_numbers_urls_and_units_are_not_counted(excluded: str) -> None:
    english = sentences("en")[4]
    result = score_one(f"<think>{english}\n{excluded}\n{english}</think>", target="en")
    assert result.scores["language"] == 1.0
    extra = spaced_words("and") * excluded.count(" and ")  # the prose between the formulas
    assert result.details["language"]["words"] == 2 * spaced_words(english) + extra


# Prose inside a wrapper is prose: (wrapped, the same words written plainly).
WRAPPED_PROSE = [
    ("```python\n# Calculons la somme des carrés pour vérifier le résultat\nprint(1)\n```",
     "Calculons la somme des carrés pour vérifier le résultat"),
    ("~~~\nDie Antwort ist vierzig und zwei\n~~~", "Die Antwort ist vierzig und zwei"),
    ("`la somme des carrés est calculée` `résultat final`", "la somme des carrés est calculée résultat final"),
    ("$\\text{la somme des termes est égale à}\\ n^2$", "la somme des termes est égale"),
    ("$$\\text{Die Summe aller Zahlen ist gleich } \\frac{n(n+1)}{2}$$", "Die Summe aller Zahlen ist gleich"),
    ("\\[\\text{la réponse finale est } 42\\]", "la réponse finale est"),
    ("\\(\\text{dann gilt für alle } x > y\\)", "dann gilt für alle"),
    ("\\begin{align} \\text{donc nous avons} &= 3 \\end{align}", "donc nous avons"),
    ("calculer_la_somme nombrePremier getDieAntwort", "calculer la somme nombre Premier get Die Antwort"),
]


@pytest.mark.parametrize(("wrapped", "plain"), WRAPPED_PROSE)
def test_prose_inside_code_math_and_identifiers_is_counted(wrapped: str, plain: str) -> None:
    english = sentences("en")[4]
    result = score_one(f"<think>{english}\n{wrapped}\n{english}</think>", target="en")
    assert result.details["language"]["words"] == 2 * spaced_words(english) + spaced_words(plain)
    assert (result.scores["language"] or 0.0) < 1.0


def test_prose_dollar_amounts_are_not_taken_for_math() -> None:
    assert count_words(mask("It costs $5 and $10 in total.").text) == spaced_words("It costs and in total.")


@pytest.mark.parametrize(
    "reasoning",
    ["$$x^2 + 2x + 1 = (x+1)^2$$\n```python\nprint(sum(range(10)))\n```", "3 + 4 = 7\nf(x) = 2x\nx_1 = 5", "x = y"],
)
def test_reasoning_of_only_math_and_code_is_fully_consistent_by_default(reasoning: str) -> None:
    result = score_one(f"<think>{reasoning}</think>The answer is 7.")
    assert result.scores["language"] == 1.0
    assert result.details["language"]["words"] == 0
    assert result.details["language"]["reason"] == "no_countable_words"
    assert result.errors == {}


def test_empty_count_score_is_configurable() -> None:
    zero = score_one("<think>$x = 1$</think>", empty_score=0.0)
    assert zero.scores["language"] == 0.0
    null = score_one("<think>$x = 1$</think>", empty_score=None)
    assert null.scores["language"] is None
    assert "no words to judge" in null.errors["language"]
    assert null.reward is None


@pytest.mark.parametrize("completion", ["", "   \n", "<think></think>", [{"role": "assistant", "content": ""}]])
def test_empty_completion_scores_the_empty_count_value(completion: object) -> None:
    result = score_one(completion)
    assert result.scores["language"] == 1.0
    assert result.details["language"]["reason"] == "empty_reasoning"


def test_chat_message_completions_are_read() -> None:
    completion = [{"role": "assistant", "content": f"<think>{sentences('de')[0]}</think>Antwort: 4"}]
    assert score_one(completion, target="de").scores["language"] == 1.0


def test_chinese_sentence_counts_like_its_english_translation() -> None:
    rows = load("parallel.jsonl")
    ratios = {lang: [count_words(row[lang]) / spaced_words(row["en"]) for row in rows] for lang in ("zh", "ja")}
    for lang, values in ratios.items():
        assert 0.85 <= statistics.fmean(values) <= 1.15, lang
        assert all(0.5 <= v <= 2.0 for v in values), (lang, values)
    assert count_words("三角形面积") == pytest.approx(5 / ZH_CHARS_PER_WORD)


def test_chinese_half_of_a_bilingual_reasoning_weighs_about_half() -> None:
    rows = load("parallel.jsonl")
    scores = []
    for first, second in itertools.pairwise(rows):
        completion = f"<think>{first['en']}\n{second['zh']}</think>"
        scores.append(score_one(completion, target="en").scores["language"] or 0.0)
    assert 0.4 <= statistics.fmean(scores) <= 0.6
    assert all(0.25 <= s <= 0.75 for s in scores), scores


@pytest.mark.parametrize(
    ("text", "language"),
    [("그래서 답은 다섯이다 그리고 확인했다", "ko"), ("ดังนั้นคำตอบคือห้า", "th"), ("Επομένως η απάντηση είναι πέντε", "el"),
     ("したがって答えは五です", "ja"), ("因此答案是五", "zh"), ("ამიტომ პასუხი არის ხუთი", "ka"),
     ("Поэтому ответ равен пяти", "ru")],
)
def test_script_alone_decides_where_one_language_writes_it(text: str, language: str) -> None:
    labelled = label(segments(mask(text).text), get_detector("fasttext"), target="en", min_words=2,
                     min_confidence=0.5)
    assert [entry.language for entry in labelled] == [language]
    expected_how = "detector" if language == "ru" else "script"  # Cyrillic is shared: the detector decides
    assert [entry.how for entry in labelled] == [expected_how]


@pytest.mark.parametrize(
    ("fragment", "min_words"),
    [("Voilà.", 2), ("Genau.", 2), ("Bueno.", 2), ("Vale, bien.", 3), ("Also gut.", 3), ("Wait wait wait.", 2)],
)
def test_short_latin_fragments_inherit_from_their_neighbours(fragment: str, min_words: int) -> None:
    english = sentences("en")
    completion = f"<think>{english[5]} {fragment} {english[6]}</think>"
    result = score_one(completion, target="en", min_segment_words=min_words)
    assert result.scores["language"] == 1.0
    assert result.details["language"]["words"] == spaced_words(f"{english[5]} {fragment} {english[6]}")
    on_its_own = score_one(completion, target="en", min_segment_words=0, min_confidence=0)
    assert (on_its_own.scores["language"] or 0.0) < 1.0  # the detector alone flips it


def test_a_whole_foreign_sentence_is_not_inherited() -> None:
    english, french = sentences("en"), sentences("fr")
    completion = f"<think>{english[5]} {french[5]} {english[6]}</think>"
    words = [spaced_words(s) for s in (english[5], french[5], english[6])]
    assert score_one(completion, target="en").scores["language"] == pytest.approx(
        (words[0] + words[2]) / sum(words)
    )


def test_letters_in_an_unknown_script_count_as_not_the_target() -> None:
    result = score_one(f"<think>{sentences('en')[0]} ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ ᛁᛃᛇᛈ</think>", target="en")
    english_words = spaced_words(sentences("en")[0])
    assert result.details["language"]["languages"] == {"en": english_words, "und": 3}
    assert result.scores["language"] == pytest.approx(english_words / (english_words + 3))
    runic_only = score_one("<think>ᚠᚢᚦᚨᚱᚲ ᚷᚹᚺᚾ</think>", target="en")
    assert runic_only.scores["language"] == 0.0
    assert runic_only.errors == {}


def test_every_item_of_a_mixed_batch_gets_one_result() -> None:
    items = [{"completion": c} for c in ["", "```\ncode\n```", "<think>ᚠᚢᚦ</think>", sentences("en")[0], "$x$"]]
    results = score_batch("language", items)
    assert [r.scores["language"] for r in results] == [1.0, 1.0, 0.0, 1.0, 1.0]
