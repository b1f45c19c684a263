"""The Python harness that runs assert-style and function-call tests inside the sandbox.

It runs as ``main.py`` next to the model's program (``solution.py``) and the tests (``tests.py``).
Defences against a program that wants to pass without being right:

- the harness, not the program, decides the verdict, and writes it as a line starting with a per-run
  random token it read from stdin *before* the program ran (stdin is then replaced by /dev/null): a
  program that exits early (``exit(0)``, ``os._exit(0)``) leaves no verdict, and one that prints a fake
  verdict does not know the token;
- ``SystemExit`` and every other exception raised by the program or the tests is a failure;
- builtins and the attributes of every already-imported module are restored after the program ran, and
  the module's ``__builtins__`` is reset before the tests run, so it cannot patch ``abs`` or
  ``math.isclose`` for the tests;
- every value the program returns must be made of plain built-in types (exact types, not subclasses):
  an object whose ``__eq__`` always returns True is refused before any test compares it. Function-call
  results travel back as JSON and are compared on the host.

A program that deliberately inspects the harness's frames or file descriptors to steal the token is not
stopped by this (it is stopped by nothing short of a second process); the token is never in the files.
"""

from __future__ import annotations

HARNESS = r"""
import builtins, json, os, sys
import bisect, collections, functools, hashlib, heapq, itertools, math, random, re, string, typing  # noqa

PLAIN = (int, float, str, bool, type(None), bytes, complex)


def _plain(value, depth=0):
    kind = type(value)
    if kind in PLAIN:
        return value
    if depth > 64:
        raise TypeError("value nested too deeply")
    if kind in (list, tuple):
        items = [_plain(v, depth + 1) for v in value]
        return items if kind is list else tuple(items)
    if kind in (set, frozenset):
        return kind(_plain(v, depth + 1) for v in value)
    if kind is dict:
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"returned a {kind.__module__}.{kind.__qualname__}, not a plain built-in value")


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (bytes, complex)):
        return repr(value)
    return value


def _main():
    token = sys.stdin.readline().strip()
    request = json.loads(sys.stdin.readline() or "{}")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    verdict_fd = os.dup(1)

    def verdict(**fields):
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        os.write(verdict_fd, ("\n" + token + " " + json.dumps(fields) + "\n").encode())

    saved_builtins = dict(builtins.__dict__)
    modules = [(name, module) for name, module in list(sys.modules.items()) if module]
    saved_modules = {name: (module, dict(vars(module))) for name, module in modules}
    namespace = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        with open("solution.py", encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, "solution.py", "exec"), namespace)
    except BaseException as exc:
        return verdict(status="error", stage="program", error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        builtins.__dict__.clear()
        builtins.__dict__.update(saved_builtins)
        for name, (module, attrs) in saved_modules.items():
            sys.modules[name] = module
            for key, value in attrs.items():
                if module.__dict__.get(key, verdict) is not value:
                    try:
                        setattr(module, key, value)
                    except (AttributeError, TypeError):
                        pass

    if request.get("mode") == "call":
        return _call(namespace, request, verdict)
    return _asserts(namespace, request, verdict)


def _guarded(function):
    def candidate(*args, **kwargs):
        return _plain(function(*args, **kwargs))
    return candidate


def _asserts(namespace, request, verdict):
    entry_point = request["entry_point"]
    function = namespace.get(entry_point)
    if not callable(function):
        return verdict(status="error", stage="lookup", error=f"no function named {entry_point!r}")
    # The program may have rebound its module's __builtins__ (to a dict with a fake abs): the tests,
    # which run in that module, get the real one back.
    namespace["__builtins__"] = builtins
    try:
        with open("tests.py", encoding="utf-8") as f:
            exec(compile(f.read(), "tests.py", "exec"), namespace)
        namespace["check"](_guarded(function))
    except BaseException as exc:
        return verdict(status="failed", stage="tests", error=f"{type(exc).__name__}: {exc}"[:500])
    return verdict(status="passed")


def _call(namespace, request, verdict):
    name = request["fn_name"]
    function = namespace.get(name)
    if not callable(function) and isinstance(namespace.get("Solution"), type):
        try:
            function = getattr(namespace["Solution"](), name, None)
        except BaseException as exc:
            error = f"Solution(): {type(exc).__name__}: {exc}"[:500]
            return verdict(status="error", stage="lookup", error=error)
    if not callable(function):
        return verdict(status="error", stage="lookup", error=f"no function named {name!r}")
    try:
        value = _plain(function(*request["args"]))
        encoded = json.dumps(_jsonable(value))
    except BaseException as exc:
        return verdict(status="error", stage="call", error=f"{type(exc).__name__}: {exc}"[:500])
    return verdict(status="returned", value=json.loads(encoded))


_main()
"""
