"""Workers of `driftline serve --workers N` share keep-alive connections opened in a burst
(driftline.service.balance): uvicorn's own supervisor gave all of them to one worker."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from driftline.service.balance import Board, create_board

HERE = Path(__file__).resolve().parent

SUPERVISOR = """
import os, sys, uvicorn
from pathlib import Path
from driftline.service.balance import BOARD_VAR, BalancedMultiprocess, create_board
board = Path(sys.argv[2]); create_board(board, 2); os.environ[BOARD_VAR] = str(board)
config = uvicorn.Config("balance_app:app", host="127.0.0.1", port=int(sys.argv[1]), workers=2,
                        log_level="warning", lifespan="on")
BalancedMultiprocess(config, sockets=[config.bind_socket()]).run()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_board_slots_yield_to_a_less_loaded_live_worker(tmp_path: Path) -> None:
    path = tmp_path / "board"
    create_board(path, 2)
    mine = Board(path)
    assert not mine.should_yield(5)  # alone: never waits
    other = Board(path, pid=os.getppid())  # a second (live) worker's view
    assert {mine.slot, other.slot} == {0, 1}
    other.publish(1)
    assert mine.should_yield(2) and not mine.should_yield(1)
    other.release()
    assert not mine.should_yield(9)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import mmap

    from driftline.service.balance import SLOT

    with path.open("r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        SLOT.pack_into(m, other.slot * SLOT.size, dead.pid, 0)  # a worker that died holding a slot
    assert Board(path, pid=1).slot == other.slot  # its replacement (any live pid) takes it over


@pytest.mark.slow
def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(port), str(tmp_path / "board")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        pids: set[str] = set()
        while len(pids) < 2:  # both workers serving (one fresh connection each time)
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                pids.add(conn.getresponse().read().decode())
                conn.close()
            except OSError:
                time.sleep(0.2)
        time.sleep(1.0)  # the probes' closed connections reach the board
        for _burst in range(3):
            conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(8)]
            for c in conns:
                c.connect()  # all eight open before any request: the burst
            served = Counter()
            for _ in range(3):  # keep-alive: each connection stays with the worker that took it
                for i, c in enumerate(conns):
                    c.request("GET", "/")
                    served[(i, c.getresponse().read().decode())] += 1
            per_worker = Counter(pid for _, pid in served)
            assert len(served) == 8  # no connection moved
            for c in conns:
                c.close()
            time.sleep(1.0)
            assert sorted(per_worker.values()) in ([4, 4], [3, 5]), per_worker  # never 8-0, 7-1, 6-2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
