"""The runner shipped into the sandbox image (``runner.py``); a package only so that mypy checks it."""
