"""A third party can type-check a plugin against the public API, and test it with ``verifier.testing``.

The documented example and the sample plugin pass ``mypy --strict`` with no cast; the same example with a
misspelt param, or registered with a params model its scorer does not read (or none), fails it: the generics
do the work. Every
package ships ``py.typed``. The sample plugin's own tests pass, run as its author would run them, and import
nothing but the public API."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"
SAMPLE = ROOT / "tests" / "fixtures" / "sample_plugin"
PUBLIC = {"verifier", "verifier.testing"}


def _documented(first_line: str) -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)
    [example] = [b for b in blocks if b.startswith(first_line + "\n")]
    return example


def _documented_plugin() -> str:
    return _documented("# src/my_rewards/__init__.py")


def _mutated(example: str, old: str, new: str) -> str:
    assert old in example, f"the documented plugin no longer has {old!r}: update this test"
    return example.replace(old, new)


@pytest.mark.slow
def test_the_documented_plugin_and_the_sample_pass_mypy_strict_and_mistakes_do_not(tmp_path: Path) -> None:
    example = _documented_plugin()
    modules = {
        "my_rewards": example,
        "wrong_field": _mutated(example, "item.params.case_sensitive", "item.params.no_such_field"),
        "wrong_params": _mutated(example, "params=KeywordParams", "params=BaseModel"),
        "no_params": _mutated(example, "score=Keyword(), params=KeywordParams,", "score=Keyword(),"),
        "test_documented": _documented("# tests/test_keyword.py"),
    }
    modules |= {path.stem: path.read_text() for path in sorted((SAMPLE / "tests").glob("test_*.py"))}
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
    # The plugin's modules are checked; the host's are only read for their types (a plugin author's view).
    command = [
        sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
        "--cache-dir", str(tmp_path / "cache"), "--python-version", "3.11",
        *(arg for name in modules for arg in ("-m", name)), "-p", "verifier_sample",
    ]  # fmt: skip
    env = {**os.environ, "MYPYPATH": os.pathsep.join(map(str, [tmp_path, ROOT, ROOT / "plugins", SAMPLE / "src"]))}
    checked = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    by_file = {Path(line.split(":", 1)[0]).name: line for line in errors}
    assert set(by_file) == {"wrong_field.py", "wrong_params.py", "no_params.py"}, checked.stdout + checked.stderr
    assert len(errors) == 3, errors
    assert '"KeywordParams" has no attribute "no_such_field"' in by_file["wrong_field.py"]
    # A scorer that reads KeywordParams, registered with another model or none: the items would not carry it.
    assert 'to "Reward" has incompatible type "Keyword"' in by_file["wrong_params.py"]
    assert '"Reward"' in by_file["no_params.py"]
    assert checked.returncode == 1


def test_every_package_ships_py_typed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["*"]
    packages = [ROOT / name for name in ("verifier", "sandbox", "trainer")]
    packages += [p for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()]
    packages += [SAMPLE / "src" / "verifier_sample"]
    assert len(packages) >= 9
    assert [p.name for p in packages if not (p / "py.typed").is_file()] == []
    sample_config = tomllib.loads((SAMPLE / "pyproject.toml").read_text())
    assert "py.typed" in sample_config["tool"]["setuptools"]["package-data"]["*"]


@pytest.mark.slow
def test_the_documented_plugin_test_passes(tmp_path: Path) -> None:
    (tmp_path / "my_rewards.py").write_text(_documented_plugin())
    (tmp_path / "test_documented.py").write_text(_documented("# tests/test_keyword.py"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [tmp_path, ROOT, ROOT / "plugins"]))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "test_documented.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout, run.stdout


@pytest.mark.slow
def test_the_sample_plugins_own_tests_pass() -> None:
    """``pytest`` in the sample plugin's directory, with its own configuration (``src`` on the path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=SAMPLE, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\b(\d+) passed\b", run.stdout), run.stdout
    assert int(re.findall(r"\b(\d+) passed\b", run.stdout)[-1]) >= 8, run.stdout


def _imported(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names if node.module == "verifier"}
    return modules


def test_the_sample_plugins_tests_use_only_the_public_api() -> None:
    files = sorted((SAMPLE / "tests").glob("*.py"))
    assert files
    for path in files:
        host = {m for m in _imported(path) if m.split(".")[0] == "verifier"}
        assert "verifier.testing" in host, path
        # ``from verifier import X`` is the top level: X must be a name the package exports, not a submodule.
        internals = {m for m in host if m not in PUBLIC and not _exported_by_verifier(m)}
        assert internals == set(), f"{path.name} imports the host's internals: {sorted(internals)}"


def _exported_by_verifier(module: str) -> bool:
    import verifier

    prefix, _, name = module.partition(".")
    return prefix == "verifier" and "." not in name and name in verifier.__all__
