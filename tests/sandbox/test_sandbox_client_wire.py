"""What ``SandboxClient`` puts on the wire: fields at their defaults are left out, so a ``sandbox serve`` of
an older version (whose models forbid fields they do not know) still takes an ordinary request."""

from __future__ import annotations

import json

from sandbox.client import wire_body
from sandbox.types import ExecRequest, Limits, Program, RunSpec


def test_fields_at_their_defaults_stay_off_the_wire_and_the_request_round_trips() -> None:
    ordinary = ExecRequest(program=Program(language="python", source="print(1)"), runs=[RunSpec(stdin="7")])
    body = json.loads(wire_body(ordinary))
    assert set(body["runs"][0]) == {"stdin"}  # no writable, fetch_files, argv or default limits
    assert ExecRequest.model_validate_json(wire_body(ordinary)) == ordinary
    asking = ExecRequest(
        program=Program(language="python", source="print(1)"),
        runs=[RunSpec(writable=True, fetch_files=["out.txt"], limits=Limits(wall_time_s=2))],
    )
    body = json.loads(wire_body(asking))
    assert body["runs"][0] == {"limits": {"wall_time_s": 2.0}, "writable": True, "fetch_files": ["out.txt"]}
    assert ExecRequest.model_validate_json(wire_body(asking)) == asking
