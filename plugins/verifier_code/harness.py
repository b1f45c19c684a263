"""The two programs of a judged Python run: the candidate's server and the judge (``PairRequest``).

Assert-style tests (HumanEval, MBPP) and function-call tests run as a *pair* of sandboxed processes:

- the **candidate** process holds the model's program (``solution.py``) and nothing else. Its ``main.py``
  (``CANDIDATE``) runs the program, finds the function, then serves calls: one line in (arguments), one
  line out (the return value, the arguments as the call left them, or the exception it raised);
- the **judge** process, in a sandbox of its own, holds the dataset's tests and the helpers they need
  from the reference's ``prompt`` (taken from the reference, never from the completion). Its ``main.py``
  (``JUDGE``) runs ``check(candidate)`` with a proxy that forwards each call over the pipe, and writes
  its verdict on its own stderr, on a line that starts with a per-run nonce only the judge's files hold.

What crosses the pipe is plain data only (``CODEC``): JSON with tagged tuples, sets, frozensets, dicts
with any plain keys, bytes, complex and big integers; exact built-in types, nothing pickled, nothing
callable. So the program cannot reach the tests, the expected values, the judge's builtins or its
frames: whatever it writes to the pipe is just its answer, and a line that is not a well-formed answer
fails the test. An argument the candidate mutates in place comes back and is updated in the judge.

Function-call items (``mode: "call"``) use the same pair: the judge makes the one call and reports the
returned value, compared with the expected value on the host.

Not guarded: the program's own resource use (time, memory, output) is bounded by its sandbox's limits; a
test that needs a non-plain value from the program (an instance of a class the program defines) cannot
be judged this way, and says so (the item gets null + an error).
"""

from __future__ import annotations

CODEC = r'''
import base64 as _base64
import json as _json

_BIG = 1 << 1000  # beyond this an int travels as hex: JSON readers cap decimal digits (int_max_str_digits)
_MAX_DEPTH = 200


class NotPlain(TypeError):
    pass


def encode(value, depth=0):
    kind = type(value)
    if depth > _MAX_DEPTH:
        raise NotPlain("value nested too deeply")
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return {"int": hex(value)} if abs(value) >= _BIG else value
    if kind is float:
        return value
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"tuple": [encode(v, depth + 1) for v in value]}
    if kind is set or kind is frozenset:
        return {kind.__name__: [encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind is bytes:
        return {"bytes": _base64.b64encode(value).decode()}
    if kind is complex:
        return {"complex": [value.real, value.imag]}
    raise NotPlain("a " + kind.__module__ + "." + kind.__qualname__ + " is not a plain built-in value")


def decode(data, depth=0):
    kind = type(data)
    if depth > _MAX_DEPTH:
        raise NotPlain("value nested too deeply")
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode(v, depth + 1) for v in data]
    if kind is not dict or len(data) != 1:
        raise NotPlain("not an encoded value")
    ((tag, inner),) = data.items()
    if tag == "int" and type(inner) is str:
        return int(inner, 16)
    if tag == "bytes" and type(inner) is str:
        return _base64.b64decode(inner, validate=True)
    if type(inner) is not list:
        raise NotPlain("not an encoded value")
    if tag == "tuple":
        return tuple(decode(v, depth + 1) for v in inner)
    if tag == "set":
        return {decode(v, depth + 1) for v in inner}
    if tag == "frozenset":
        return frozenset(decode(v, depth + 1) for v in inner)
    if tag == "dict":
        pairs = [decode(p, depth + 1) for p in inner]
        if any(type(p) is not list or len(p) != 2 for p in pairs):
            raise NotPlain("not an encoded dict")
        return {k: v for k, v in pairs}
    if tag == "complex" and len(inner) == 2 and all(type(x) is float for x in inner):
        return complex(inner[0], inner[1])
    raise NotPlain("not an encoded value")


def dumps(message):
    return (_json.dumps(message, separators=(",", ":")) + "\n").encode()


def loads(line):
    return _json.loads(line)
'''

CANDIDATE = (
    CODEC
    + r'''
import os, sys, traceback


def _serve():
    # The pipe to the judge is ours alone: the program's prints go to stderr, its stdin is empty.
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr

    def send(message):
        channel_out.write(dumps(message))
        channel_out.flush()

    with open("call.json", encoding="utf-8") as f:
        config = loads(f.read())
    namespace = {"__name__": "__solution__"}
    try:
        with open("solution.py", encoding="utf-8") as f:
            exec(compile(f.read(), "solution.py", "exec"), namespace)
        function = namespace.get(config["name"])
        if not callable(function) and config.get("solution_class") and isinstance(namespace.get("Solution"), type):
            function = getattr(namespace["Solution"](), config["name"], None)
    except BaseException as exc:
        traceback.print_exc()
        return send({"failed": "program", "error": (type(exc).__name__ + ": " + str(exc))[:500]})
    if not callable(function):
        return send({"failed": "lookup", "error": "no function named " + repr(config["name"])})
    send({"ready": True})
    for line in channel_in:
        call = loads(line)
        args, kwargs = decode(call["args"]), decode(call["kwargs"])
        try:
            before = dumps(encode(args))
        except NotPlain:
            before = b""
        try:
            value = encode(function(*args, **kwargs))
            after = encode(args)
        except BaseException as exc:
            send({"raised": type(exc).__name__, "message": str(exc)[:500]})
            continue
        reply = {"value": value}
        if dumps(after) != before:
            reply["args"] = after
        send(reply)


_serve()
'''
)

JUDGE = (
    CODEC
    + r'''
import builtins, os, sys

MAX_REPLY_BYTES = 64 * 1024 * 1024


class CandidateGone(Exception):
    """The program ended, or wrote something that is not an answer: its fault, a failed test."""


class Unjudgeable(Exception):
    """The tests need something that cannot cross the pipe: not the program's fault, no verdict."""


def _main():
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr
    with open("judge.json", encoding="utf-8") as f:
        job = loads(f.read())
    with open("run.json", encoding="utf-8") as f:
        run = loads(f.read())
    nonce = run["nonce"]

    def verdict(**fields):
        sys.stderr.flush()
        os.write(2, ("\n" + nonce + " " + _json.dumps(fields) + "\n").encode())

    def receive():
        line = channel_in.readline(MAX_REPLY_BYTES)
        if not line.endswith(b"\n"):
            raise CandidateGone("the program ended" if not line else "the program's reply is too long")
        try:
            return loads(line)
        except (ValueError, RecursionError):
            raise CandidateGone("the program wrote something that is not an answer") from None

    try:
        hello = receive()
    except CandidateGone as exc:
        return verdict(status="error", stage="program", error=str(exc))
    if type(hello) is not dict or hello.get("ready") is not True:
        failed = hello if type(hello) is dict else {}
        return verdict(status="error", stage=str(failed.get("failed", "program")), error=str(failed.get("error", "")))

    # A test that catches what the proxy raises (``except Exception``) must not turn it into a pass.
    trouble = []

    def candidate(*args, **kwargs):
        if trouble:
            raise trouble[0]
        try:
            message = {"args": encode(list(args)), "kwargs": encode(dict(kwargs))}
        except NotPlain as exc:
            trouble.append(Unjudgeable("a test passes the program an argument that is not plain data: " + str(exc)))
            raise trouble[0] from None
        try:
            channel_out.write(dumps(message))
            channel_out.flush()
            reply = receive()
        except (BrokenPipeError, CandidateGone) as exc:
            trouble.append(exc if isinstance(exc, CandidateGone) else CandidateGone("the program ended"))
            raise trouble[0] from None
        if type(reply) is not dict:
            raise CandidateGone("the program wrote something that is not an answer")
        if "raised" in reply:
            raise _candidate_exception(reply)
        try:
            value = decode(reply["value"])
            if "args" in reply:
                _update_in_place(args, decode(reply["args"]))
        except (KeyError, NotPlain, ValueError, TypeError, RecursionError):
            trouble.append(CandidateGone("the program wrote something that is not an answer"))
            raise trouble[0] from None
        return value

    namespace = {"__name__": "__judge__"}
    if job["mode"] != "call":
        try:
            exec(compile(job["helpers"], "prompt.py", "exec"), namespace)
            # In the dataset's own harness the entry point's name is the program's function; some tests
            # call it by that name (HumanEval/33): here it is the program too.
            namespace[job["entry_point"]] = candidate
            exec(compile(job["tests"], "tests.py", "exec"), namespace)
            check = namespace["check"]
        except BaseException as exc:
            error = "the tests do not load: " + type(exc).__name__ + ": " + str(exc)
            return verdict(status="unjudgeable", error=error[:500])
    try:
        if job["mode"] == "call":
            value = candidate(*run["args"])
            return verdict(status="returned", value=_jsonable(value))
        check(candidate)
        if trouble:
            raise trouble[0]
    except Unjudgeable as exc:
        return verdict(status="unjudgeable", error=str(exc)[:500])
    except CandidateGone as exc:
        return verdict(status="failed", stage="program", error=str(exc)[:500])
    except BaseException as exc:
        if isinstance(exc, NameError) and not getattr(exc, "from_candidate", False):
            # The tests use a name neither they nor the reference's prompt define (the program's own).
            error = "the tests need a name the reference does not define: " + str(exc)
            return verdict(status="unjudgeable", error=error[:500])
        return verdict(status="failed", stage="tests", error=(type(exc).__name__ + ": " + str(exc))[:500])
    verdict(status="passed")


def _candidate_exception(reply):
    """The program's exception, re-raised here as the same built-in class where there is one (a test may
    expect a ValueError), marked as the program's."""
    name, message = str(reply.get("raised")), str(reply.get("message", ""))
    kind = getattr(builtins, name, None)
    exc = None
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            exc = kind(message)
        except BaseException:
            exc = None
    if exc is None:
        exc = RuntimeError(name + ": " + message)
    exc.from_candidate = True
    return exc


def _update_in_place(args, after):
    if type(after) is not list or len(after) != len(args):
        raise NotPlain("not the call's arguments")
    for old, new in zip(args, after):
        if type(old) is list and type(new) is list:
            old[:] = new
        elif type(old) is dict and type(new) is dict:
            old.clear()
            old.update(new)
        elif type(old) is set and type(new) is set:
            old.clear()
            old.update(new)


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


_main()
'''
)
