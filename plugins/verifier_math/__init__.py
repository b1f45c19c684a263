"""Built-in math reward: math-verify answer checking on a pool of killable worker processes.

Importing this package is cheap: sympy and math-verify are imported by the worker processes (and the
forkserver that forks them), not by the service.
"""

from __future__ import annotations

from verifier_math.errors import PoolError
from verifier_math.params import MathOptions, MathParams
from verifier_math.plugin import register_rewards
from verifier_math.reward import MathReward

__all__ = ["MathOptions", "MathParams", "MathReward", "PoolError", "register_rewards"]
