"""The docker backend against a real Docker engine: languages, limits, lock-down, recycling, shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import docker
import pytest

from sandbox.docker_backend import DockerBackend, DockerPrepared
from sandbox.docker_pool import DockerOptions, owner_identity
from sandbox.errors import SandboxUnavailable, UnsupportedLanguage
from sandbox.types import ExecStatus, Limits, Program, RunSpec
from tests.sandbox.docker_support import LoopBackend, containers_of, started_backend
from tests.system import require_docker

pytestmark = pytest.mark.docker

QUICK = Limits(wall_time_s=3.0, memory_mb=128, max_processes=16)


@pytest.fixture(scope="module")
def box() -> Iterator[LoopBackend]:
    with started_backend(DockerOptions(warm_containers=1, max_containers=4, max_runs_per_container=5)) as box:
        yield box


def run_python(
    box: LoopBackend, source: str, stdin: str = "", limits: Limits = QUICK
) -> tuple[str, ExecStatus]:
    response = box.execute(Program(language="python", source=source), RunSpec(stdin=stdin, limits=limits))
    result = response.runs[0]
    return result.stdout, result.status


async def lease_ids(backend: DockerBackend, source: str, count: int) -> list[str]:
    """Run ``source`` in ``count`` successive leases; the id of the container each one got."""
    ids = []
    for _ in range(count):
        async with backend.prepare(Program(language="python", source=source)) as prepared:
            assert isinstance(prepared, DockerPrepared)
            await prepared.run(RunSpec(limits=QUICK))
            ids.append(prepared.container_id)
    return ids


def test_python_program_runs_and_reports_facts(box: LoopBackend) -> None:
    response = box.execute(
        Program(language="python", source="import sys\nprint(sum(map(int, sys.stdin.read().split())))"),
        RunSpec(stdin="1 2 3 4"),
    )
    assert response.compile is None
    [result] = response.runs
    assert (result.status, result.exit_code, result.stdout) == (ExecStatus.OK, 0, "10\n")
    assert 0 < result.wall_time_s < 10
    assert result.peak_memory_mb is not None and 1 < result.peak_memory_mb < 128


def test_cpp_compiles_once_and_runs_every_input(box: LoopBackend) -> None:
    source = (
        "#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a * b << '\\n'; }\n"
    )
    response = box.execute(
        Program(language="cpp", source=source), RunSpec(stdin="6 7"), RunSpec(stdin="-3 5")
    )
    assert response.compile is not None and response.compile.status is ExecStatus.OK
    assert [r.stdout for r in response.runs] == ["42\n", "-15\n"]


def test_c_program_runs(box: LoopBackend) -> None:
    source = '#include <stdio.h>\n#include <math.h>\nint main(){ printf("%.3f\\n", sqrt(2.0)); return 3; }\n'
    [result] = box.execute(Program(language="c", source=source)).runs
    assert (result.status, result.exit_code, result.stdout) == (ExecStatus.RUNTIME_ERROR, 3, "1.414\n")


def test_compile_error_is_a_result_for_every_run(box: LoopBackend) -> None:
    response = box.execute(Program(language="cpp", source="int main( { return 0; }"), RunSpec(), RunSpec())
    assert response.compile is not None and response.compile.status is ExecStatus.COMPILE_ERROR
    assert "error" in response.compile.stderr
    assert [r.status for r in response.runs] == [ExecStatus.COMPILE_ERROR] * 2


def test_extra_files_and_argv_reach_the_program(box: LoopBackend) -> None:
    program = Program(
        language="python",
        source="import sys\nfrom helper import VALUE\nprint(VALUE, sys.argv[1:], open('data/x.txt').read())",
        files={"helper.py": "VALUE = 41 + 1\n", "data/x.txt": "payload"},
    )
    [result] = box.execute(program, RunSpec(argv=["a", "b c"])).runs
    assert result.stdout == "42 ['a', 'b c'] payload\n"


def test_wall_time_limit_kills_a_sleeper(box: LoopBackend) -> None:
    limits = Limits(wall_time_s=1.0)
    [result] = box.execute(
        Program(language="python", source="import time\ntime.sleep(60)"), RunSpec(limits=limits)
    ).runs
    assert result.status is ExecStatus.TIMEOUT
    assert 1.0 <= result.wall_time_s < 5.0


def test_cpu_time_limit_stops_a_busy_loop(box: LoopBackend) -> None:
    limits = Limits(wall_time_s=20.0, cpu_time_s=1.0)
    [result] = box.execute(Program(language="python", source="while True: pass"), RunSpec(limits=limits)).runs
    assert result.status is ExecStatus.TIMEOUT
    # RLIMIT_CPU's SIGXCPU or the runner's kill at the container's CPU counter, whichever comes first; not the
    # wall clock. rusage may read under the limit when SIGXCPU fires (0.81-0.93 s seen).
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL) and "CPU" in result.message
    assert result.cpu_time_s is not None and result.cpu_time_s > 0.5


def test_cpu_time_limit_counts_the_whole_tree(box: LoopBackend) -> None:
    """Four children of 0.9 CPU-seconds each under cpu_time_s=1: no process reaches its own RLIMIT_CPU, the
    tree does 3.6 s. The runner reads the container's CPU counter and stops the run at its 1 s."""
    spread = (
        "import os, time\npids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
        "        os.setsid()\n        end = time.process_time() + 0.9\n"
        "        while time.process_time() < end:\n            pass\n        os._exit(0)\n    pids.append(pid)\n"
        "for pid in pids:\n    os.waitpid(pid, 0)\nprint('did 3.6 CPU-seconds')\n"
    )
    limits = Limits(wall_time_s=30.0, cpu_time_s=1.0)
    [result] = box.execute(Program(language="python", source=spread), RunSpec(limits=limits)).runs
    assert result.status is ExecStatus.TIMEOUT and "did 3.6" not in result.stdout
    assert result.cpu_time_s is not None and 0.95 <= result.cpu_time_s < 3.0


def test_memory_limit_is_an_oom_kill_in_the_container_cgroup(box: LoopBackend) -> None:
    source = "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))\n"
    [result] = box.execute(Program(language="python", source=source), RunSpec(limits=QUICK)).runs
    assert result.status is ExecStatus.MEMORY_LIMIT
    assert result.signal == 9


def test_memory_under_the_limit_is_fine_and_limits_follow_each_run(box: LoopBackend) -> None:
    source = "import sys\nx = bytearray(int(sys.argv[1]) * 1024 * 1024)\nprint(len(x) >> 20)\n"
    response = box.execute(
        Program(language="python", source=source),
        RunSpec(argv=["200"], limits=Limits(memory_mb=300)),
        RunSpec(argv=["200"], limits=Limits(memory_mb=100)),
        RunSpec(argv=["50"], limits=Limits(memory_mb=100)),
    )
    assert [r.status for r in response.runs] == [ExecStatus.OK, ExecStatus.MEMORY_LIMIT, ExecStatus.OK]


def test_output_limit_truncates_and_stops_the_program(box: LoopBackend) -> None:
    limits = Limits(wall_time_s=10.0, output_bytes=1000)
    source = "import sys\nwhile True:\n    sys.stdout.write('z' * 4096)\n"
    [result] = box.execute(Program(language="python", source=source), RunSpec(limits=limits)).runs
    assert result.status is ExecStatus.OUTPUT_LIMIT
    assert result.stdout == "z" * 1000 and result.stdout_truncated
    assert result.wall_time_s < 5.0


def test_process_limit_contains_a_fork_loop(box: LoopBackend) -> None:
    source = (
        "import os, time\nkids = 0\nwhile True:\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
        "    kids += 1\nprint(kids)\n"
    )
    [result] = box.execute(Program(language="python", source=source), RunSpec(limits=QUICK)).runs
    assert result.status is ExecStatus.OK
    assert 0 < int(result.stdout) < QUICK.max_processes


def test_runtime_errors_and_signals(box: LoopBackend) -> None:
    assert run_python(box, "raise SystemExit(7)")[1] is ExecStatus.RUNTIME_ERROR
    [result] = box.execute(Program(language="python", source="import os\nos.abort()")).runs
    assert (result.status, result.signal) == (ExecStatus.RUNTIME_ERROR, 6)


def test_container_is_locked_down(box: LoopBackend) -> None:
    source = """
import os, socket
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\\t' in line)
print('uid', os.getuid(), os.getgid())
print('caps', status['CapEff'].strip(), status['CapBnd'].strip(), 'nnp', status['NoNewPrivs'].strip())
for path in ('/usr/evil', '/etc/evil', '/evil'):
    try:
        open(path, 'w')
        print('WROTE', path)
    except OSError as exc:
        print('ro', path, exc.errno)
open('/work/ok', 'w').write('fine')
print('interfaces', sorted(name for _, name in socket.if_nameindex()))
print('env', sorted(os.environ))
"""
    stdout, status = run_python(box, source)
    assert status is ExecStatus.OK, stdout
    lines = dict(line.split(" ", 1) for line in stdout.splitlines())
    uid, gid = map(int, lines["uid"].split())
    assert uid >= 1_000_000 and gid == uid
    assert lines["caps"] == "0000000000000000 0000000000000000 nnp 1"
    assert "WROTE" not in stdout
    assert lines["interfaces"] == "['lo']"
    assert lines["env"] == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']"


def test_runner_cannot_be_killed_or_traced_by_the_program(box: LoopBackend) -> None:
    source = """
import os, signal
for target in ('/proc/1/environ', '/proc/1/fd/0', '/proc/1/mem'):
    try:
        open(target, 'rb').read(1)
        print('OPENED', target)
    except OSError as exc:
        print('denied', target, exc.errno)
os.kill(1, signal.SIGKILL)
os.kill(1, signal.SIGSTOP)
print('still here')
"""
    stdout, status = run_python(box, source)
    assert status is ExecStatus.OK and "still here" in stdout and "OPENED" not in stdout
    assert run_python(box, "print('next run fine')") == ("next run fine\n", ExecStatus.OK)


def test_no_run_sees_the_leftovers_of_another(box: LoopBackend) -> None:
    writer = "for path in ('/work/left', '/tmp/left', '/dev/shm/left'):\n    open(path, 'w').write('x')\nprint('wrote')"
    reader = "import os\nprint(sorted(os.listdir('/work')), os.listdir('/tmp'), os.listdir('/dev/shm'))"
    assert run_python(box, writer)[1] is ExecStatus.OK
    stdout, status = run_python(box, reader)
    assert (stdout, status) == ("['main.py'] [] []\n", ExecStatus.OK)


def test_background_processes_die_with_the_run(box: LoopBackend) -> None:
    source = (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(30)\n    os._exit(0)\nprint('left')\n"
    )
    assert run_python(box, source) == ("left\n", ExecStatus.OK)
    # Only the runner (PID 1) and its zygote remain besides the probe itself.
    probe = (
        "import os\nothers = [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]\n"
        "print(sorted(open(f'/proc/{p}/cmdline').read().split('\\0')[-2] for p in others))"
    )
    assert run_python(box, probe) == ("['/opt/sandbox-runner/runner.py', 'zygote']\n", ExecStatus.OK)


def test_container_reused_after_good_runs_and_replaced_after_a_timeout(box: LoopBackend) -> None:
    ids = box.run(lease_ids(box.backend, "print(1)", 2))
    assert ids[0] == ids[1], "a well-behaved lease gives its container back"
    box.execute(
        Program(language="python", source="while True: pass"), RunSpec(limits=Limits(wall_time_s=0.5))
    )
    after = box.run(lease_ids(box.backend, "print(1)", 1))
    assert ids[0] not in after and ids[0] not in box.backend.pool.container_ids()


def test_container_replaced_after_max_runs(box: LoopBackend) -> None:
    runs = box.backend.options.max_runs_per_container
    seen = box.run(lease_ids(box.backend, "print(1)", runs + 1))
    assert len(set(seen)) >= 2


def test_languages_without_toolchain_are_refused(box: LoopBackend) -> None:
    assert {"python", "cpp", "c"} <= set(box.backend.languages())
    missing = [lang for lang in ("javascript", "java", "go", "rust") if lang not in box.backend.languages()]
    for language in missing:
        with pytest.raises(UnsupportedLanguage):
            box.execute(Program(language=language, source="x"))


def test_health_is_ok_and_isolated(box: LoopBackend) -> None:
    health = box.run(box.backend.health())
    assert (health.status, health.backend, health.isolated) == ("ok", "docker", True)
    assert "python" in health.languages


def test_close_leaves_no_container_behind() -> None:
    with started_backend(DockerOptions(warm_containers=3, max_containers=3)) as box:
        box.execute(Program(language="python", source="print(1)"))
        pool = box.backend.pool.pool_id
        assert len(containers_of(owner_identity(), pool)) >= 1
    assert containers_of(owner_identity(), pool) == []


def test_strays_of_a_dead_owner_are_removed_at_start() -> None:
    require_docker()
    client = docker.from_env()
    try:
        # A container as a crashed earlier process would have left it: our label, an owner that is gone.
        dead_owner = owner_identity().split("/")[0] + "/999999999@1"
        stray = client.containers.create(
            DockerOptions().image,
            labels={"io.r1-verifier.sandbox": "1", "io.r1-verifier.sandbox.owner": dead_owner},
            network_mode="none",
        )
        with started_backend(DockerOptions(warm_containers=0)):
            assert stray.id not in {c.id for c in containers_of()}
    finally:
        client.close()


def test_unreachable_engine_is_unavailable_and_health_down() -> None:
    backend = DockerBackend(DockerOptions(base_url="unix:///nonexistent/docker.sock", api_timeout_s=2))
    with asyncio.Runner() as runner:
        with pytest.raises(SandboxUnavailable, match="unreachable"):
            runner.run(backend.start())
        health = runner.run(backend.health())
        runner.run(backend.aclose())
    assert health.status == "down" and "unreachable" in health.message


def test_missing_image_is_unavailable() -> None:
    require_docker()
    backend = DockerBackend(DockerOptions(image="r1-verifier/no-such-image:never"))
    with asyncio.Runner() as runner:
        with pytest.raises(SandboxUnavailable, match=r"docker-setup\.sh"):
            runner.run(backend.start())
        runner.run(backend.aclose())


def test_forked_python_runs_see_nothing_of_each_other(box: LoopBackend) -> None:
    """Python runs are forks of the warm runner: a module patched or a file left by one is gone for the next."""
    source = (
        "import os, math, sys\nprint(os.path.exists('/tmp/left'), hasattr(math, 'planted'), sys.argv[1:])\n"
        "open('/tmp/left', 'w').write('x')\nmath.planted = True\nexit(3)\n"
    )
    response = box.execute(
        Program(language="python", source=source), RunSpec(argv=["a"]), RunSpec(argv=["b"])
    )
    assert [(r.stdout, r.exit_code) for r in response.runs] == [
        ("False False ['a']\n", 3),
        ("False False ['b']\n", 3),
    ]


def test_python_without_the_fork_server_runs_a_fresh_interpreter() -> None:
    source = "import sys\nprint(sys.flags.dont_write_bytecode, sys.flags.ignore_environment, input())"
    with started_backend(DockerOptions(warm_containers=0, fast_python=False)) as slow:
        [result] = slow.execute(Program(language="python", source=source), RunSpec(stdin="hi\n")).runs
    assert (result.status, result.stdout) == (ExecStatus.OK, "1 1 hi\n")


def test_closing_one_pool_leaves_another_pool_of_the_same_process_running(box: LoopBackend) -> None:
    with started_backend(DockerOptions(warm_containers=1)) as other:
        other.execute(Program(language="python", source="print(1)"))
    assert box.backend.pool.container_ids(), "the module's pool lost its containers"
    assert run_python(box, "print('still served')") == ("still served\n", ExecStatus.OK)


def test_a_container_that_died_while_idle_is_replaced_transparently() -> None:
    with started_backend(DockerOptions(warm_containers=1, max_containers=2)) as box:
        first = box.run(lease_ids(box.backend, "print(1)", 1))[0]
        client = docker.from_env()
        try:
            client.api.kill(first)  # as an engine restart or an operator's `docker rm -f` would
        finally:
            client.close()
        [result] = box.execute(Program(language="python", source="print(2)")).runs
        assert (result.status, result.stdout) == (ExecStatus.OK, "2\n")
        assert first not in box.backend.pool.container_ids()
