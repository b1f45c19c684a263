"""A verifier of our own for the mini R1 run: ``verifier serve`` in a subprocess on 127.0.0.1.

The trainer reaches it over HTTP only, exactly as it would reach a verifier on another machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from trainer.errors import TrainerError
from verifier.errors import LocalVerifierError
from verifier.local import local_verifier as start_verifier


@contextmanager
def local_verifier(
    plugins: Sequence[str] = ("math", "format"), *, math_workers: int = 1, start_timeout_s: float = 120.0
) -> Iterator[str]:
    """Start ``verifier serve`` with only ``plugins``; yield its URL once ``/readyz`` answers; stop it after."""
    options = {"VERIFIER_PLUGIN_OPTIONS": json.dumps({"math": {"workers": math_workers}})}
    try:
        with start_verifier("--allow", ",".join(plugins), env=options, start_timeout_s=start_timeout_s) as verifier:
            yield verifier.url
    except LocalVerifierError as exc:  # raised at startup only
        raise TrainerError(str(exc)) from exc
