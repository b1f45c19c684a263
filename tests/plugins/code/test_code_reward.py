"""The ``code`` reward through the real host path (registry + BatchScorer) and a real bubblewrap sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import verifier_code
from verifier_code.compare import tokens_match, values_match
from verifier_code.extract import extract_program
from verifier_code.plugin import CodeOptions
from verifier_code.reward import CodeParams, CodeReward

from sandbox.languages import get_language
from sandbox.process import ProcessBackend, ProcessOptions
from tests.system import needs_bwrap
from verifier import RewardItem, Score, split_reasoning
from verifier.registry import RewardRegistry, create_plugin_manager
from verifier.schemas import VerifyRequest
from verifier.scoring import BatchScorer
from verifier.types import PluginConfig
from verifier.wire import score_request, verify_response

pytestmark = needs_bwrap

ADD_STDIO = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4\n", "output": "6"}]}
ADD_ASSERT = {
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
ADD_CALLS = {"fn_name": "add", "inputs": [[1, 2], [2, 2], [0.1, 0.2]], "outputs": [3, 4, [0.3]]}


def fenced(code: str, tag: str = "python") -> str:
    return f"Here it is:\n```{tag}\n{code}\n```\n"


def score(completion: str, reference: Any, **params: Any) -> Score:
    async def go() -> Score:
        reward = CodeReward(ProcessBackend(ProcessOptions(isolation="bwrap")))
        async with reward.lifespan():
            item = RewardItem(
                index=0, completion=completion, reference=reference, params=CodeParams(**params)
            )
            [result] = await reward([item])
            return result

    return anyio.run(go)


def test_stdio_correct_program_passes_every_case() -> None:
    result = score(fenced("a, b = map(int, input().split())\nprint(a + b)"), ADD_STDIO)
    assert result.value == 1.0 and result.details["passed"] == 2


def test_stdio_partial_credit_and_first_failure_details() -> None:
    program = "a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)"
    result = score(fenced(program), ADD_STDIO)
    assert result.value == 0.5
    failure = result.details["first_failure"]
    assert failure["index"] == 1 and failure["status"] == "wrong_answer" and failure["input"] == "10 -4\n"
    assert score(fenced(program), ADD_STDIO, scoring="all_or_nothing").value == 0.0


def test_stdio_extra_output_fails() -> None:
    program = "a, b = map(int, input().split())\nprint(a + b)\nprint('debug')"
    assert score(fenced(program), ADD_STDIO).value == 0.0


def test_stdio_exit_zero_before_answering_fails() -> None:
    assert score(fenced("import sys\nsys.exit(0)"), ADD_STDIO).value == 0.0


def test_cpp_compiles_once_and_compile_errors_are_reported() -> None:
    good = (
        "#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }"
    )
    assert score(fenced(good, "cpp"), ADD_STDIO, language="cpp").value == 1.0
    bad = score(fenced("int main( { return 0; }", "cpp"), ADD_STDIO, language="cpp")
    assert bad.value == 0.0 and bad.details["reason"] == "compile_error"
    assert "error" in bad.details["compile_error"]


def test_float_tolerance() -> None:
    reference = {"tests": [{"input": "", "output": "0.3333333"}]}
    assert score(fenced("print(1/3)"), reference).value == 0.0
    assert score(fenced("print(1/3)"), reference, float_tolerance=1e-6).value == 1.0


def test_timeout_is_a_failed_test_not_an_error() -> None:
    result = score(fenced("while True: pass"), ADD_STDIO, time_limit_s=0.5, stop_on_first_failure=True)
    assert result.value == 0.0 and result.error is None
    assert [t["status"] for t in result.details["tests"]] == ["timeout", "not_run"]


def test_humaneval_style_asserts_with_prompt_continuation_and_full_function() -> None:
    assert score("    return a + b\n", ADD_ASSERT).value == 1.0
    assert score(fenced("def add(a, b):\n    return a + b"), ADD_ASSERT).value == 1.0
    wrong = score(fenced("def add(a, b):\n    return a - b"), ADD_ASSERT)
    assert wrong.value == 0.0 and "AssertionError" in wrong.details["first_failure"]["error"]


@pytest.mark.parametrize(
    "cheat",
    [
        "def add(a, b):\n    return 0\nimport sys\nsys.exit(0)",
        "def add(a, b):\n    return 0\nraise SystemExit(0)",
        "def add(a, b):\n    return 0\nimport os\nos._exit(0)",
        "class Any:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
        "def add(a, b):\n    return Any()",
        "class Yes(int):\n    def __eq__(self, other): return True\ndef add(a, b):\n    return Yes(0)",
        "import builtins\nbuiltins.isinstance = lambda *a: True\ndef add(a, b):\n    return 0",
        "def add(a, b):\n    return 0\nprint('passed')\nprint('{\"status\": \"passed\"}')",
        "def add(a, b):\n    import os\n    os._exit(0)",
        "def add(a, b):\n    raise SystemExit(0)",
    ],
    ids=[
        "sys_exit",
        "raise_systemexit",
        "os_exit",
        "eq_always_true",
        "int_subclass_eq",
        "patch_builtins",
        "print_fake_verdict",
        "os_exit_in_call",
        "systemexit_in_call",
    ],
)
def test_assert_harness_is_not_fooled(cheat: str) -> None:
    assert score(fenced(cheat), ADD_ASSERT).value == 0.0


def test_assert_harness_restores_patched_modules() -> None:
    reference = {
        "prompt": "",
        "test": "import math\ndef check(candidate):\n    assert math.isclose(candidate(), 1.0)\n",
        "entry_point": "one",
    }
    cheat = "import math\nmath.isclose = lambda *a, **k: True\ndef one():\n    return 5.0"
    assert score(fenced(cheat), reference).value == 0.0
    assert score(fenced("def one():\n    return 1.0"), reference).value == 1.0


def test_function_call_cases_compare_on_the_host() -> None:
    assert score(fenced("def add(a, b):\n    return a + b"), ADD_CALLS, float_tolerance=1e-9).value == 1.0
    assert score(fenced("def add(a, b):\n    return a + b"), ADD_CALLS).value == pytest.approx(2 / 3)
    method = "class Solution:\n    def add(self, a, b):\n        return round(a + b, 6)"
    assert score(fenced(method), ADD_CALLS).value == 1.0
    eq_cheat = "class Any:\n    def __eq__(self, o): return True\ndef add(a, b):\n    return Any()"
    assert score(fenced(eq_cheat), ADD_CALLS).value == 0.0


def test_missing_code_is_zero_and_unusable_reference_is_null() -> None:
    no_code = score("I don't know.\n```\n", ADD_STDIO, extract="last_block")
    assert no_code.value == 0.0 and no_code.details["reason"] == "no_code"
    unusable = score(fenced("print(1)"), {"nothing": 1})
    assert unusable.value is None and unusable.error


def test_sandbox_down_is_null_with_error_and_health_down() -> None:
    async def go() -> tuple[Score, str]:
        from sandbox.client import SandboxClient

        reward = CodeReward(SandboxClient(["http://127.0.0.1:9"]))
        async with reward.lifespan():
            item = RewardItem(
                index=0, completion=fenced("print(3)"), reference=ADD_STDIO, params=CodeParams()
            )
            [result] = await reward([item])
            return result, reward.health().status

    result, health = anyio.run(go)
    assert result.value is None and result.error is not None and "sandbox unavailable" in result.error
    assert health == "down"


def test_extraction_prefers_the_last_block_of_the_language() -> None:
    text = "```python\nprint(1)\n```\n```cpp\nint main(){}\n```\n```py\nprint(2)\n```"
    assert extract_program(text, get_language("python")) == "print(2)\n"
    assert extract_program(text, get_language("cpp")) == "int main(){}\n"
    answer = split_reasoning("<think>```python\nprint(0)\n```</think>raw").answer
    assert answer is not None and extract_program(answer, get_language("python")) == "raw"


def test_token_and_value_comparison() -> None:
    assert tokens_match("1  2\n3\n", "1 2 3")
    assert not tokens_match("1 2 3 4", "1 2 3")
    assert not values_match(True, 1) and values_match([1, 2.0], [1, 2]) and not values_match([1], [1, 2])


@pytest.fixture
def registry() -> Iterator[RewardRegistry]:
    pm = create_plugin_manager(load_entrypoints=False, plugins={"code": verifier_code})
    yield RewardRegistry.from_plugin_manager(pm)


def test_code_reward_through_the_batch_scorer(registry: RewardRegistry) -> None:
    assert "code" in registry.names()
    request = VerifyRequest.model_validate(
        {
            "items": [
                {
                    "completion": fenced("a, b = map(int, input().split())\nprint(a + b)"),
                    "reference": ADD_STDIO,
                },
                {"completion": fenced("print(0)"), "reference": ADD_STDIO},
            ],
            "rewards": ["code"],
        }
    )

    async def go() -> Any:
        # enter the reward's lifespan as the host does, so its sandbox closes inside this event loop
        lifespan = registry.get("code").reward.lifespan
        assert lifespan is not None
        async with lifespan():
            return verify_response(await BatchScorer(registry).score(score_request(request)))

    response = anyio.run(go)
    values = [r.scores["code"] for r in response.results]
    assert values == [1.0, 0.0]


def test_options_are_validated() -> None:
    assert CodeOptions.model_validate({"backend": "remote", "urls": ["http://x"]}).backend == "remote"
    with pytest.raises(Exception, match="needs at least one URL"):
        verifier_code.register_rewards(config=PluginConfig("code", {"backend": "remote"}))
