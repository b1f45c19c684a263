"""``deploy/ray/serve.yaml`` is a valid Serve config whose applications build with the arguments it gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from sandbox import ray_serve as sandbox_serve
from verifier import rayserve
from verifier.settings import Settings

pytestmark = pytest.mark.ray

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "ray" / "serve.yaml"
BUILDERS = {
    "verifier.rayserve:app_builder": rayserve.app_builder,
    "sandbox.ray_serve:app_builder": sandbox_serve.app_builder,
}


def _config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return config


def test_the_shipped_serve_config_validates_against_serves_schema() -> None:
    schema = ServeDeploySchema.model_validate(_config())
    assert [app.name for app in schema.applications] == ["sandbox", "verifier"]
    assert schema.applications[0].route_prefix is None  # the sandbox is reached by handle only


def test_each_application_builds_and_names_the_deployments_the_config_tunes() -> None:
    for app in _config()["applications"]:
        built = BUILDERS[app["import_path"]](app["args"])
        assert {d["name"] for d in app["deployments"]} == {built._bound_deployment.name}


def test_the_verifier_sends_code_to_the_sandbox_application_of_the_same_config() -> None:
    apps = {app["name"]: app for app in _config()["applications"]}
    settings = Settings.model_validate(apps["verifier"]["args"]["settings"])
    assert settings.plugin_options["code"] == {"backend": "ray", "ray_app": "sandbox"}
    assert settings.host == _config()["http_options"]["host"] and settings.port == _config()["http_options"]["port"]


def test_replicas_take_as_many_requests_as_the_apps_own_admission_could_hold() -> None:
    settings = Settings(max_items_in_flight=300)
    options = rayserve.deployment.replica_options(settings, replicas=2)
    assert options["max_ongoing_requests"] == 300 and options["num_replicas"] == 2
    big = rayserve.deployment.replica_options(Settings(max_items_in_flight=65536))
    assert big["max_ongoing_requests"] == rayserve.deployment.MAX_ONGOING_REQUESTS


def test_the_handle_helper_pickles_without_its_handle() -> None:
    import pickle

    helper = rayserve.VerifierHandle(retries=7)
    helper._handle = object()  # a live handle is looked up again where the copy is used
    copy = pickle.loads(pickle.dumps(helper))
    assert copy.retries == 7 and copy._handle is None
