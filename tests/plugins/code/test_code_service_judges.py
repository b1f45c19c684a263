"""A live verifier (real uvicorn on 127.0.0.1, bubblewrap process backend) scoring one batch that mixes a
checker problem, IOI groups, dataset rows and malformed references: one result per item, in order, and the
malformed ones null with an error naming the accepted shapes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from tests.plugins.code.live import fenced
from tests.plugins.code.test_code_checkers import ONE_AND_REST, ONES, TESTLIB_PY, reference
from tests.plugins.code.test_code_scoring import IOI, SMALL_ONLY
from tests.plugins.code.test_code_shapes import ADD, LCB_FUNCTIONAL_ROW, OPEN_R1_ROW, TWO_SUM
from tests.system import needs_bwrap
from verifier.client import VerifierClient
from verifier.http.app import create_app
from verifier.settings import Settings

pytestmark = needs_bwrap


def test_one_batch_of_judges_shapes_and_bad_references(live_server: Callable[[FastAPI], str]) -> None:
    settings = Settings(plugins_allow=["code"], plugin_options={"code": {"backend": "process", "isolation": "bwrap"}})
    client = VerifierClient(live_server(create_app(settings)), timeout=120)
    try:
        items = [
            {"completion": fenced(ONE_AND_REST), "reference": reference(TESTLIB_PY)},
            {"completion": fenced(ONES), "reference": reference(TESTLIB_PY)},
            {"completion": fenced(SMALL_ONLY), "reference": IOI, "params": {"code": {"scoring": "groups"}}},
            {"completion": fenced(ADD), "reference": OPEN_R1_ROW},
            {"completion": fenced(TWO_SUM), "reference": LCB_FUNCTIONAL_ROW},
            {"completion": fenced("pass"), "reference": {"tests": [{"stdin": "1", "stdout": "2"}]}},
            {"completion": fenced("pass"), "reference": {"fn_name": "f", "tests": [{"args": [1], "expected": 2}]}},
        ]
        results = client.verify(items, rewards=["code"]).results
        scores = [r.scores["code"] for r in results]
        assert scores[:5] == [1.0, 0.0, pytest.approx(0.3), 1.0, 1.0]
        assert scores[5:] == [None, None]
        for result in results[5:]:
            assert "accepted shapes" in result.errors["code"]
        assert results[0].details["code"]["checker"]["convention"] == "testlib"
    finally:
        client.close()
