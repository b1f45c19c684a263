"""Through the ``code`` reward on the docker backend: an attacker item, then items of other "siblings" in the
same container, which must score exactly what their own programs deserve.

One container (``max_containers=1``), so every item runs where the attacker ran.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest
from verifier_code.reward import CodeParams, CodeReward

from sandbox.docker_pool import DockerOptions
from sandbox.factory import SandboxOptions, make_executor
from tests.system import require_docker
from verifier import RewardItem

pytestmark = pytest.mark.docker

REFERENCE = {"tests": [{"input": "2 3", "output": "5"}, {"input": "40 2", "output": "42"}]}
PARAMS = CodeParams(memory_mb=512, time_limit_s=10.0)

HOARD_SHM = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
size = 400 << 20
addr = libc.shmat(libc.shmget(0x7A11, size, 0o1666), None, 0)
ctypes.memset(addr, 1, size)   # 400 MB charged to the container, kept after the run
print(0)
"""

HONEST_BIG = "a, b = map(int, input().split())\nbuf = bytearray(200 << 20)\nprint(a + b)\n"

LEAVE_ANSWERS = """
import ctypes, os
a, b = map(int, input().split())
libc = ctypes.CDLL(None)
q = libc.msgget(0x7A12, 0o1666)
for text in (b"5", b"42"):
    message = ctypes.create_string_buffer(8 + len(text))
    ctypes.c_long.from_buffer(message).value = 1
    message[8:8 + len(text)] = text
    libc.msgsnd(q, message, len(text), 0o4000)
mq = libc.mq_open(b"/answers", os.O_CREAT | os.O_RDWR, 0o666, None)
libc.mq_send(mq, b"5 42", 4, 0)
open('/dev/shm/answers', 'w').write('5 42')
print(a + b)
"""

READ_ANSWERS = """
import ctypes, os
libc = ctypes.CDLL(None)
q = libc.msgget(0x7A12, 0)
found = ''
if q >= 0:
    message = ctypes.create_string_buffer(64)
    size = libc.msgrcv(q, message, 56, 0, 0o4000)
    found = message.raw[8:8 + max(size, 0)].decode()
for path in ('/dev/shm/answers', '/dev/mqueue/answers', '/tmp/answers'):
    if not found and os.path.exists(path):
        found = open(path).read().split()[0]
print(found or 'nothing')
"""


def score(reward: CodeReward, programs: Sequence[str]) -> list[float | None]:
    async def go() -> list[float | None]:
        async with reward.lifespan():
            results = []
            for i, program in enumerate(programs):  # one at a time: the order is the attack
                item = RewardItem(index=i, completion=f"```python\n{program}\n```", reference=REFERENCE, params=PARAMS)
                [scored] = await reward([item])
                results.append(scored.value)
            return results

    return anyio.run(go)


@pytest.fixture
def reward() -> CodeReward:
    require_docker()
    options = DockerOptions(warm_containers=1, max_containers=1, max_runs_per_container=1000)
    return CodeReward(make_executor(SandboxOptions(backend="docker", docker=options)))


def test_a_hoarded_shared_memory_segment_does_not_cost_the_next_items_an_oom_kill(reward: CodeReward) -> None:
    assert score(reward, [HOARD_SHM, HONEST_BIG, HONEST_BIG, HONEST_BIG]) == [0.0, 1.0, 1.0, 1.0]


def test_answers_left_in_ipc_objects_do_not_reach_a_sibling_that_computes_nothing(reward: CodeReward) -> None:
    assert score(reward, [LEAVE_ANSWERS, READ_ANSWERS, READ_ANSWERS]) == [1.0, 0.0, 0.0]
