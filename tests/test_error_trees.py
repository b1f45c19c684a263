"""Each package's ``errors.py`` docstring draws its exception tree; every exception class the package defines is
in it, so the tree cannot drift from the code.

Classes are found by parsing the sources (no imports: optional dependencies such as docker or torch do not
matter). A class is an exception when one of its bases is a built-in exception, an exception of this codebase,
or a name ending in ``Error``/``Exception`` imported from elsewhere (httpx's, say).
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "verifier": ROOT / "verifier",
    "sandbox": ROOT / "sandbox",
    "trainer": ROOT / "trainer",
    **{path.name: path for path in sorted((ROOT / "plugins").glob("verifier_*")) if path.is_dir()},
}
BUILTIN_EXCEPTIONS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _classes(package: Path) -> dict[str, tuple[Path, list[str]]]:
    """Every class defined anywhere in ``package`` (nested ones included): name -> (file, base names)."""
    found: dict[str, tuple[Path, list[str]]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                found[node.name] = (path, [_base_name(base) for base in node.bases])
    return found


def _all_classes() -> dict[str, dict[str, tuple[Path, list[str]]]]:
    return {name: _classes(path) for name, path in PACKAGES.items()}


def _exceptions(classes: dict[str, dict[str, tuple[Path, list[str]]]]) -> dict[str, dict[str, Path]]:
    """Per package, its exception classes: a fixpoint over the bases, across packages (``RewardFailure``)."""
    known = set(BUILTIN_EXCEPTIONS)
    changed = True
    while changed:
        changed = False
        for package in classes.values():
            for name, (_, bases) in package.items():
                if name not in known and any(b in known or b.endswith(("Error", "Exception")) for b in bases):
                    known.add(name)
                    changed = True
    return {
        package: {name: path for name, (path, _) in defined.items() if name in known}
        for package, defined in classes.items()
    }


EXCEPTIONS = _exceptions(_all_classes())


def test_the_walk_finds_the_exceptions_it_should() -> None:
    assert {"VerifierError", "UnscoredError", "RewardFailure"} <= EXCEPTIONS["verifier"].keys()
    assert {"JudgeError", "JudgeRejected"} <= EXCEPTIONS["verifier_judge"].keys()
    assert {"PoolError", "ItemDeadline", "_WorkerDied", "BadGold"} <= EXCEPTIONS["verifier_math"].keys()
    assert {"SandboxFailure", "UnusableReference"} <= EXCEPTIONS["verifier_code"].keys()
    assert {"TrainerError", "OpenAIError", "SamplingUnavailableError"} <= EXCEPTIONS["trainer"].keys()
    assert "UnsupportedLanguage" in EXCEPTIONS["sandbox"]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_exception_is_drawn_in_the_packages_error_tree(package: str) -> None:
    exceptions = EXCEPTIONS[package]
    if not exceptions:
        return  # a package that defines none needs no errors.py (verifier_format)
    errors = PACKAGES[package] / "errors.py"
    assert errors.exists(), f"{package} defines {sorted(exceptions)} but has no errors.py"
    docstring = ast.get_docstring(ast.parse(errors.read_text())) or ""
    drawn = set(re.findall(r"\w+", docstring))
    missing = {name: str(path.relative_to(ROOT)) for name, path in exceptions.items() if name not in drawn}
    assert not missing, f"not in {errors.relative_to(ROOT)}'s tree: {missing}"


def test_no_exception_is_defined_twice_in_a_package() -> None:
    """Two classes of one name (there were two ``UnscoredError``) are one concept declared twice."""
    for package, path in PACKAGES.items():
        names = [
            node.name
            for file in sorted(path.rglob("*.py"))
            for node in ast.walk(ast.parse(file.read_text()))
            if isinstance(node, ast.ClassDef) and node.name in EXCEPTIONS[package]
        ]
        assert len(names) == len(set(names)), (package, sorted(n for n in names if names.count(n) > 1))
