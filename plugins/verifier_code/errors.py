"""The code plugin's exceptions. It has no public ones: it raises nothing to the host on purpose.

A program that fails to compile, crashes, times out or answers wrong is a score. The sandbox's own exceptions
(``sandbox.SandboxUnavailable``, ``sandbox.InvalidRequest``, ``sandbox.UnsupportedLanguage``) and a request
the sandbox's schema refuses (pydantic's ``ValidationError``) are mapped at one boundary, the reward
(``verifier_code.reward``), onto ``null`` plus an error for the items they concern, never 0.0.

Private control flow, raised and caught inside the plugin, never seen outside it::

    Exception
    ├── SandboxFailure         checker: the sandbox, not the checker, failed on a checker run
    ├── _JudgeUnusable         reward: the item's judge (its interactor) cannot judge it (null + error)
    └── ValueError
        └── UnusableReference  suite: the reference holds no tests the reward understands (null + error)

The judged-Python harness (``verifier_code.harness``) also names ``NotPlain``, ``CandidateGone`` and
``Unjudgeable``: they are source text of the programs it runs inside the sandbox, not classes of this package.
"""
