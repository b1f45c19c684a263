"""Attacks on ``language`` and ``readability``, each with its right score.

False positives: English reasoning hidden from the word count (in wrappers, in disguise, behind invisible
characters) next to one Han character, against a Chinese target. False negatives: honest reasoning that
must keep full marks (R1's short English interjections, Chinese reasoning with math, code, units and URLs).
"""

from __future__ import annotations

import unicodedata

import pytest
from verifier_language.disguise import clean, undisguise_token

from tests.plugins.language._scoring import score_batch, score_one, sentences

SENTENCE = "First we add the two numbers together and then we divide the result by two to get the mean"
WORDS = SENTENCE.split(" ")


def _join(words: list[str], separator: str) -> str:
    return separator.join(words)


HIDDEN = {
    "inline code": f"`{SENTENCE}`",
    "inline code per word": " ".join(f"`{w}`" for w in WORDS),
    "math text": f"$\\text{{{SENTENCE}}}$",
    "display math text": f"$$\\text{{{SENTENCE}}} = 2$$",
    "math mbox": f"\\({SENTENCE.replace(' ', '~')} \\mbox{{{SENTENCE}}}\\)",
    "textbf": f"\\textbf{{{SENTENCE}}}",
    "emph": f"\\emph{{{SENTENCE}}}",
    "boxed": f"\\boxed{{{SENTENCE}}}",
    "plain words in math": f"${SENTENCE}$",
    "slashes": _join(WORDS, "/"),
    "snake case": _join(WORDS, "_"),
    "hyphen chain": _join(WORDS, "-"),
    "dotted url-like": _join(["-".join(WORDS[i : i + 3]) for i in range(0, len(WORDS), 3)], "."),
    "camel case": WORDS[0].lower() + "".join(w.capitalize() for w in WORDS[1:]),
    "colons": _join(WORDS, ":"),
    "digits for letters": "F1rst we add th3 tw0 numb3rs t0g3th3r and th3n we d1v1d3 th3 r3sult by tw0 t0 g3t th3 m3an",
    "zero width spaces": _join(WORDS, "\u200b"),
    "word joiners": _join(WORDS, "\u2060"),
    "braille blanks": _join(WORDS, "\u2800"),
    "soft hyphens inside words": " ".join("\u00ad".join(w) for w in WORDS),
    "fullwidth letters": clean(SENTENCE).translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
    "mathematical bold": "".join(chr(0x1D400 + ord(c) - 65) if "A" <= c <= "Z" else
                                 chr(0x1D41A + ord(c) - 97) if "a" <= c <= "z" else c for c in SENTENCE),
    "fenced prose": f"```\n{SENTENCE}\n```",
    "code comment": f"```python\n# {SENTENCE}\nx = 1\n```",
    "url path": "https://example.com/" + _join(WORDS, "-"),
    "markup between words": _join(WORDS, "<b>"),
    "commas": _join(WORDS, ","),
    "other punctuation": _join(WORDS, ";!?"),
    "plus signs": _join(WORDS, "+"),
    "equals signs": _join(WORDS, "="),
    "parentheses": _join(WORDS, ")("),
    "html entities": _join(WORDS, "&nbsp;"),
    "url encoding": _join(WORDS, "%20"),
    "tag characters": "".join(chr(0xE0000 + ord(c)) for c in SENTENCE),
    "negative squared letters": "".join(chr(0x1F170 + ord(c) - 65) if c.isalpha() else c for c in SENTENCE.upper()),
    "text per letter": "$" + "".join(f"\\text{{{c}}}" for c in SENTENCE) + "$",
    "a formula per word": " ".join(f"${w}$" for w in WORDS),
    "formulas per word with commas": ", ".join(f"${w}$" for w in WORDS),
    "mathrm with control spaces": "$\\mathrm{" + SENTENCE.replace(" ", "\\ ") + "}$",
    "proof environment": f"\\begin{{proof}}{SENTENCE}\\end{{proof}}",
    "names in code": "```python\n" + " = ".join("_".join(WORDS[i : i + 3]) for i in range(0, 18, 3)) + "\n```",
    "camel names in code": "```\n" + " + ".join("".join(w.capitalize() for w in WORDS[i : i + 3])
                                                for i in range(0, 18, 3)) + "\n```",
}


@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
def test_english_hidden_next_to_one_han_character_does_not_pass_for_chinese(hidden: str) -> None:
    result = score_one(f"<think>{hidden} 的</think>答案是四", target="zh")
    details = result.details["language"]
    assert details["words"] >= 12, details  # most of the 19 English words are counted
    assert (result.scores["language"] or 0.0) < 0.1, details
    readability = score_one(f"<think>{hidden} 的</think>答案是四", reward="readability", target="zh")
    assert readability.scores["readability"] == 0.0
    assert "mixed_language" in readability.details["readability"]["failed"]


@pytest.mark.parametrize("hidden", ["inline code", "snake case", "digits for letters", "zero width spaces"])
def test_disguised_english_is_read_as_english_by_the_detector(hidden: str) -> None:
    result = score_one(f"<think>{HIDDEN[hidden]}</think>", target="en")
    assert result.scores["language"] == 1.0, result.details


def test_disguised_english_does_not_pass_for_a_latin_target_either() -> None:
    result = score_one(f"<think>{sentences('fr')[0]}\n{HIDDEN['snake case']}</think>", target="fr")
    assert (result.scores["language"] or 0.0) < 0.6


def test_words_run_together_count_about_as_many_words_as_they_hold() -> None:
    result = score_one(f"<think>{''.join(WORDS)} 的</think>", target="zh")
    assert result.details["language"]["words"] >= 10
    assert (result.scores["language"] or 0.0) < 0.1


def test_look_alike_cyrillic_letters_do_not_make_english_russian() -> None:
    homoglyphs = SENTENCE.translate(str.maketrans("aeo", "аео"))  # Cyrillic а, е, о
    russian = sentences("ru")[0]
    result = score_one(f"<think>{russian}\n{homoglyphs}</think>", target="ru")
    assert (result.scores["language"] or 0.0) < 0.5, result.details
    assert score_one(f"<think>{russian}</think>", target="ru").scores["language"] == 1.0


def test_r1_interjections_are_english_not_french() -> None:
    result = score_one("<think>Wait.\nHmm.\nBut wait.\nOkay.</think>4", target="en")
    assert result.scores["language"] == pytest.approx(1.0)
    english = sentences("en")
    r1 = "\n".join(f"{s}\nWait.\nHmm.\nBut wait.\nOkay, let me check." for s in english[:4])
    assert score_one(f"<think>{r1}</think>4", target="en").scores["language"] == pytest.approx(1.0)
    assert score_one(f"<think>{r1}</think>4", reward="readability", target="en").scores["readability"] == 1.0


CHINESE = "\n".join(sentences("zh")[:4])
HONEST_CHINESE = {
    "inline math": f"{CHINESE}\n设 $x^2 + y^2 = r^2$，则 $x = 3$。",
    "display math": f"{CHINESE}\n$$\\frac{{a}}{{b}} = \\sqrt{{c}}$$",
    "units": f"{CHINESE}\n边长是 5 cm，重量是 $3\\text{{ kg}}$。",
    "real code": f"{CHINESE}\n```python\nfor i in range(n):\n    total = total + i\nprint(total)\n```",
    "identifiers in code": f"{CHINESE}\n变量 `x_1` 和 `dp[i]` 以及 `f(x)`。",
    "url": f"{CHINESE}\n参见 https://zh.wikipedia.org/wiki/勾股定理 。",
    "numbers": f"{CHINESE}\n所以答案是 3.14 或 12:00 或 1,000。",
    "invisible characters": CHINESE.replace("，", "\u200b，\u2060"),
    "fullwidth punctuation": CHINESE.replace("，", "，").replace("。", "．"),
    "geometry labels": f"{CHINESE}\n三角形 $ABC$ 的边 $AB$, $BC$, $CA$ 和点 $P$, $Q$, $R$。",
    "variables side by side": f"{CHINESE}\n令 $a$, $b$, $c$ 为正数，$x$ $y$ $z$ 为整数。",
    "code with short names": f"{CHINESE}\n```python\nmax_val = max(nums)\nleft, right = 0, len(nums) - 1\n```",
    "cases environment": f"{CHINESE}\n\\begin{{cases}} x & \\text{{若 }} x > 0 \\\\ 0 & \\text{{否则}} \\end{{cases}}",
}


@pytest.mark.parametrize("reasoning", HONEST_CHINESE.values(), ids=HONEST_CHINESE.keys())
def test_honest_chinese_reasoning_keeps_full_marks(reasoning: str) -> None:
    result = score_one(f"<think>{reasoning}</think>答案是四", target="zh")
    assert result.scores["language"] == 1.0, result.details


def test_an_english_word_in_a_chinese_formula_costs_one_word() -> None:
    # Known limit: text mode is language, so \\text{if} is one English word (units are not: see UNITS).
    result = score_one(f"<think>{CHINESE}\n$f(x) = 1 \\text{{ if }} x > 0$, $5\\text{{ cm}}$</think>", target="zh")
    details = result.details["language"]
    assert details["languages"]["en"] == 1.0
    assert details["words"] == details["target_words"] + 1


@pytest.mark.parametrize(
    "reasoning",
    [
        "We use a well-known identity, a step-by-step check and the sum_of_squares helper on the data.",
        "Let me compare the value of x_1 with f(x) and the value of numpy.linalg.norm here.",
        "So the answer is 3.14, which we round to three at 12:00 as planned.",
    ],
)
def test_honest_english_with_compounds_and_identifiers_keeps_full_marks(reasoning: str) -> None:
    assert score_one(f"<think>{reasoning}</think>4", target="en").scores["language"] == 1.0


def test_a_two_part_hyphenated_word_is_one_word() -> None:
    assert undisguise_token("Peut-être") == "Peut-être"
    assert undisguise_token("well-known,") == "well-known,"
    assert undisguise_token("step-by-step.") == "step by step."
    assert undisguise_token("f(x)_1") == "f(x)_1"  # a code operator: code, not words
    assert undisguise_token("print(total)") == "print(total)"  # two names: code
    assert undisguise_token("a=b+c") == "a=b+c"  # variables: code


def test_think_in_prompt_takes_the_reasoning_up_to_the_closing_tag() -> None:
    completion = f"{CHINESE}</think>The answer is four, as shown above in detail."
    prefilled = score_one(completion, target="zh", think_in_prompt=True)
    assert (prefilled.scores["language"], prefilled.details["language"]["reasoning"]) == (1.0, "prefilled_think")
    unclosed = score_one(f"{CHINESE}\n{SENTENCE}", target="zh", think_in_prompt=True)
    assert unclosed.details["language"]["reasoning"] == "unclosed_think"
    assert (unclosed.scores["language"] or 0.0) < 1.0  # unfinished reasoning is still judged, all of it


def test_renamed_tag_and_prefill_are_read_like_every_other_reward() -> None:
    completion = f"<think>{SENTENCE}</think><reasoning>{CHINESE}</reasoning>答案"
    assert score_one(completion, target="zh", think_tag="reasoning").scores["language"] == 1.0
    assert (score_one(completion, target="zh").scores["language"] or 0.0) < 0.1


def test_repeated_sentences_varied_by_invisible_characters_still_fail_readability() -> None:
    variants = ["Let me check the previous step again.", "Let me\u200b check the previous step again.",
                "Let me che\u200bck the previous step again.", "Let\u00ad me check the previous step\u2060 again.",
                "LET ME CHECK THE PREVIOUS STEP AGAIN."]
    reasoning = "\n".join(sentences("en")[:4] + variants)
    result = score_one(f"<think>{reasoning}</think>4", reward="readability", target="en")
    assert result.details["readability"]["failed"] == ["repetition"]
    assert result.details["readability"]["checks"]["repetition"]["max_repeats"] == 5


def test_a_loop_padded_with_invisible_characters_is_still_a_loop() -> None:
    loop = "".join(f" so the answer is 4{chr(0x200B) * (i % 2)} and then" for i in range(12))
    result = score_one(f"<think>{sentences('en')[0]}{loop}</think>", reward="readability", target="en")
    assert "repetition" in result.details["readability"]["failed"]


def test_every_attack_of_a_batch_gets_one_result() -> None:
    items = [{"completion": f"<think>{hidden} 的</think>", "params": {"language": {"target": "zh"}}}
             for hidden in HIDDEN.values()]
    results = score_batch("language", items)
    assert len(results) == len(HIDDEN)
    assert all(r.scores["language"] is not None and r.scores["language"] < 0.1 for r in results)


def test_every_format_control_is_removed_or_a_space_or_the_ascii_it_spells() -> None:
    controls = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    spelled = {chr(c): unicodedata.normalize("NFKC", chr(c - 0xE0000)) for c in range(0xE0020, 0xE007F)}
    expected = {c: (f"ab{spelled[c]}cd",) if c in spelled else ("abcd", "ab cd") for c in controls}
    assert [hex(ord(c)) for c in controls if clean(f"ab{c}cd") not in expected[c]] == []


def test_zero_width_breaks_inside_words_do_not_garble_the_detector() -> None:
    # Cut inside its words, this English read as Italian; for an Italian target it must stay English.
    english = "Let me che\u200bck the prev\u200bious step ag\u200bain and the fin\u200bal result."
    assert score_one(f"<think>{english}</think>", target="en").scores["language"] == 1.0
    assert score_one(f"<think>{english}</think>", target="it").scores["language"] == 0.0
