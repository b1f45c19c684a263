"""Hostile programs as data, for every backend's containment tests.

Each ``Attack`` is a program with the statuses a contained run may end with and strings that must never
appear in its output (a secret it must not read, a marker it must not get through). Host-side checks
(no process left over, the host file system untouched, the backend still healthy) belong to each
backend's test module, which knows how to look for its own leftovers.

``{secret}``, ``{secret_file}``, ``{port}`` in sources are filled by ``Attack.render``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.types import ExecResult, ExecStatus, Limits

ATTACK_LIMITS = Limits(
    wall_time_s=3.0, cpu_time_s=2.0, memory_mb=256, output_bytes=64 * 1024, max_processes=32
)
DAEMON_MARKER = "987.654321"  # the argv of the daemon an attack tries to leave behind


@dataclass(frozen=True)
class Attack:
    name: str
    source: str
    expect: frozenset[ExecStatus]
    language: str = "python"
    limits: Limits = ATTACK_LIMITS
    forbidden_output: tuple[str, ...] = ()
    required_output: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def render(self, **values: object) -> str:
        source = self.source
        for key, value in values.items():
            source = source.replace("{" + key + "}", str(value))
        return source


S = ExecStatus

ATTACKS: tuple[Attack, ...] = (
    Attack(
        "fork_bomb",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        frozenset({S.TIMEOUT}),
    ),
    Attack(
        "fork_bomb_cpp",
        "#include <unistd.h>\nint main(){ while (1) fork(); }\n",
        frozenset({S.TIMEOUT}),
        language="cpp",
    ),
    Attack(
        "memory_bomb",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n",
        frozenset({S.MEMORY_LIMIT}),
    ),
    Attack(
        "memory_bomb_cpp",
        "#include <vector>\n#include <cstring>\nint main(){ std::vector<char*> v;"
        " while (1) { char* p = new char[16<<20]; memset(p, 1, 16<<20); v.push_back(p); } }\n",
        frozenset({S.MEMORY_LIMIT}),
        language="cpp",
    ),
    Attack("infinite_loop", "while True:\n    pass\n", frozenset({S.TIMEOUT})),
    Attack(
        "sleep_forever",
        "import time\ntime.sleep(3600)\n",
        frozenset({S.TIMEOUT}),
        notes="no CPU used: only the wall-clock deadline can stop it",
    ),
    Attack(
        "ignore_sigterm",
        "import signal, time\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n",
        frozenset({S.TIMEOUT}),
    ),
    Attack(
        "write_gigabytes",
        "import os\nblock = b'0' * (1 << 20)\nfor path in ('big', '/tmp/big', '/dev/shm/big', '/work/big'):\n"
        "    try:\n        with open(path, 'wb') as f:\n            for _ in range(2048):\n"
        "                f.write(block)\n        print('WROTE-2GB', path)\n"
        "    except BaseException as exc:\n        print('blocked', path, type(exc).__name__)\n",
        frozenset({S.OK, S.RUNTIME_ERROR}),
        forbidden_output=("WROTE-2GB",),
        notes="SIGXFSZ (file size limit) kills it, or the write fails: either way no 2 GB file exists",
    ),
    Attack(
        "dev_shm_fill",
        "import os\nblock = b'1' * (1 << 20)\nwritten = 0\ntry:\n"
        "    with open('/dev/shm/fill', 'wb') as f:\n        for _ in range(1024):\n"
        "            f.write(block); written += 1\nexcept BaseException as exc:\n"
        "    print('blocked', type(exc).__name__)\nprint('MB', written)\n"
        "print('FILLED-1GB' if written >= 1024 else 'partial')\n",
        frozenset({S.OK, S.RUNTIME_ERROR}),
        forbidden_output=("FILLED-1GB",),
    ),
    Attack(
        "read_secrets",
        "import os, glob\nfound = []\n"
        "paths = ['/proc/self/environ', '/proc/1/environ', '/etc/shadow', '/root/.ssh/id_rsa', '{secret_file}',\n"
        "         '/proc/1/cmdline', '/home', '/root']\n"
        "paths += glob.glob('/proc/*/environ') + glob.glob('/jobs/*/*')\n"
        "for p in paths:\n    try:\n"
        "        if os.path.isdir(p):\n            found.append(p + ':' + ','.join(os.listdir(p)))\n"
        "        else:\n            found.append(p + ':' + open(p, 'rb').read(4096).decode('latin-1'))\n"
        "    except OSError as exc:\n        found.append(p + ': ' + type(exc).__name__)\n"
        "found.append('ENV:' + repr(dict(os.environ)))\nprint('\\n'.join(found))\n",
        frozenset({S.OK}),
        forbidden_output=("{secret}",),
    ),
    Attack(
        "docker_socket",
        "import socket\nfor path in ('/var/run/docker.sock', '/run/docker.sock'):\n"
        "    s = socket.socket(socket.AF_UNIX)\n    try:\n        s.connect(path)\n"
        "        print('CONNECTED', path)\n    except OSError as exc:\n        print('blocked', path, exc)\n",
        frozenset({S.OK}),
        forbidden_output=("CONNECTED",),
    ),
    Attack(
        "network",
        "import socket\nfor host, port in (('127.0.0.1', {port}), ('1.1.1.1', 53), ('10.0.0.1', 80)):\n"
        "    s = socket.socket()\n    s.settimeout(0.5)\n    try:\n        s.connect((host, port))\n"
        "        print('CONNECTED', host, port)\n    except OSError as exc:\n        print('blocked', host, exc)\n"
        "try:\n    socket.getaddrinfo('pypi.org', 443)\n    print('CONNECTED dns')\n"
        "except OSError as exc:\n    print('blocked dns', exc)\n",
        frozenset({S.OK}),
        forbidden_output=("CONNECTED",),
    ),
    Attack(
        "kill_parent",
        "import os, signal\nfor pid in (os.getppid(), 1, -1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError as exc:\n        print('blocked', pid, exc)\nprint('survived')\n",
        frozenset({S.OK, S.RUNTIME_ERROR}),
        notes="kill(-1) or kill(1) may take the run itself down; the backend must stay up",
    ),
    Attack(
        "leave_daemon",
        "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.execv('/bin/sleep', ['/bin/sleep', '" + DAEMON_MARKER + "'])\n    os._exit(0)\n"
        "print('parent done')\n",
        frozenset({S.OK}),
        notes="the double-forked, setsid'd sleep must not outlive the run",
    ),
    Attack(
        "ctypes_segfault",
        "import ctypes\nctypes.string_at(0)\n",
        frozenset({S.RUNTIME_ERROR}),
    ),
    Attack(
        "stdout_flood_1gb",
        "import sys\nblock = 'x' * 65536\nfor _ in range(16384):\n    sys.stdout.write(block)\n",
        frozenset({S.OUTPUT_LIMIT}),
    ),
    Attack(
        "stderr_flood",
        "import os\nblock = b'y' * 65536\nwhile True:\n    os.write(2, block)\n",
        frozenset({S.OUTPUT_LIMIT}),
    ),
    Attack(
        "invalid_utf8",
        "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe\\xc3 end\\n')\n",
        frozenset({S.OK}),
        required_output=("ok \ufffd\ufffd\ufffd end",),
    ),
)


def assert_contained(attack: Attack, result: ExecResult, secret: str) -> None:
    """What every backend must report for ``attack``: an expected status, no leaked secret, its limits kept."""
    assert result.status in attack.expect, (result.status, result.message, result.stderr[-500:])
    output = result.stdout + result.stderr
    for forbidden in attack.forbidden_output:
        assert forbidden.replace("{secret}", secret) not in output
    for required in attack.required_output:
        assert required in result.stdout
    if result.status is ExecStatus.OUTPUT_LIMIT:
        assert max(len(result.stdout), len(result.stderr)) == attack.limits.output_bytes
    if result.status is ExecStatus.TIMEOUT:
        assert result.wall_time_s < attack.limits.wall_time_s + 2.0
