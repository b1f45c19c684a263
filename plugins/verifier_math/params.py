"""What can be tuned: per-request parameters (``MathParams``) and host-level plugin options (``MathOptions``)."""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from verifier import ReasoningTags

Method: TypeAlias = Literal["boxed", "answer_is", "gsm8k", "bold", "last_number", "math_verify"]
"""A way of finding the final answer in a completion (see ``verifier_math.extract``)."""

DEFAULT_METHODS: tuple[Method, ...] = ("boxed", "answer_is", "gsm8k", "bold", "last_number")


class MathParams(ReasoningTags):
    """Per-request parameters of the ``math`` reward; ``think_tag`` and ``think_in_prompt`` (from
    ``verifier.ReasoningTags``) say where the reasoning ends, as for every reward."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extract: tuple[Method, ...] = Field(
        default=DEFAULT_METHODS,
        min_length=1,
        description="answer extraction methods, tried in order; the first that finds something wins. "
        "'math_verify' hands the answer region to math-verify's own extraction",
    )
    math_verify_targets: tuple[Literal["latex", "expr"], ...] = Field(
        default=("latex", "expr"),
        min_length=1,
        description="what the 'math_verify' method looks for: LaTeX, plain expressions, or both "
        "(math-verify's extraction configs)",
    )
    search_think: bool = Field(
        default=False,
        description="also search the reasoning for the answer (the whole completion, even an unfinished one)",
    )
    rel_tol: float = Field(
        default=1e-6,
        ge=0,
        le=0.1,
        description="a decimal equals a number when they differ by at most rel_tol times the larger of the two",
    )
    precision: int | None = Field(
        default=None,
        ge=0,
        le=15,
        description="deprecated (was: decimal places to round to); when set, rel_tol is 10^-precision",
    )
    final_form: bool = Field(
        default=True,
        description="the answer must be in final form: an operator the reference does not use (integral, sum, "
        "product, limit, derivative, determinant, binomial, factorial, a function, arithmetic between numbers) "
        "makes it not an answer (0.0, reason unfinished)",
    )
    strict_multipart: bool = Field(
        default=True,
        description="every part of a multi-part gold answer (tuple, set, solutions, ±) must be matched by one "
        "part of the prediction, with no extra parts; false also accepts a prediction equal to any one part "
        "(for references that list alternative forms)",
    )
    set_relation: bool = Field(
        default=False, description="compare a relation with a set or interval (1 < x < 2 equals (1, 2))"
    )
    strict_variables: bool = Field(
        default=True, description="variable names matter (f(x) = x + 1 differs from f(y) = y + 1)"
    )
    timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="seconds one item may take; over it the item scores 0.0 (timeout)",
    )


    @property
    def tolerance(self) -> float:
        """The relative tolerance in force (``precision``, where a caller still sends it, wins)."""
        return self.rel_tol if self.precision is None else 10.0**-self.precision


class MathOptions(BaseModel):
    """Host settings of the plugin (``plugin_options.math``): pool size, limits and input guards."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: int | None = Field(
        default=None, ge=1, le=256, description="worker processes; default: CPU count"
    )
    own_sessions: bool = Field(
        default=False,
        description="start each worker in its own session (setsid): where the kernel groups CPU time by session "
        "(Linux autogroup), workers then get a share each instead of splitting the service's one share",
    )
    memory_limit_mb: int = Field(
        default=1024, ge=128, description="address-space cap (RLIMIT_AS) of each worker process"
    )
    gold_cache_size: int = Field(default=4096, ge=0, description="parsed gold answers kept per worker (LRU)")
    kill_grace_s: float = Field(
        default=1.0,
        gt=0,
        description="how long past an item's timeout the pool waits before killing its worker",
    )
    start_timeout_s: float = Field(
        default=60.0, gt=0, description="how long a new worker may take to report ready"
    )
    max_completion_chars: int = Field(
        default=100_000, ge=1000, description="longer completions keep only their last this many characters"
    )
    max_answer_chars: int = Field(
        default=1000, ge=10, description="an extracted answer (or gold) longer than this is not parsed"
    )
    max_nesting: int = Field(default=30, ge=2, description="deepest bracket nesting parsed")
    max_power_depth: int = Field(
        default=2, ge=1, description="deepest tower of exponents parsed (a^{b^{c}} is 2)"
    )
    max_digits: int = Field(
        default=1000, ge=10, description="most digits in a literal number, or estimated in a literal power"
    )
