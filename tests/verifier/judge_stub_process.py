"""The stand-in judge (``tests/plugins/judge/openai_stub.py``) as a process of its own, so that a fault test can
kill it as a crash would: ``python -m tests.verifier.judge_stub_process PORT [hang]``.

``hang``: every chat completion is held until the process dies. ``GET /stub/state`` says how many requests are
held now and what was asked (the last message of each request), for the test to check.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from tests.plugins.judge.openai_stub import Hang, OpenAIStub


def main(argv: list[str]) -> None:
    port = int(argv[0])
    stub = OpenAIStub(default=Hang()) if "hang" in argv[1:] else OpenAIStub()
    app = stub.app()

    @app.get("/stub/state")
    async def state() -> dict[str, Any]:
        asked = [str(body["messages"][-1]["content"]) for body in stub.requests]
        return {"in_flight": stub.in_flight, "asked": asked}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
