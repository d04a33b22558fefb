"""Keep-alive connections spread evenly over the worker processes of `driftline serve --workers N`.

uvicorn's workers share one listening socket and each accepts what it can: when a client opens
its connections in a burst (a gateway's keep-alive pool, the api benchmark's 8 clients), the
worker that wakes first accepts all of them, and they stay with it: measured here, all 8
connections of the api benchmark on one of two workers (the other idle) in 2 runs of 3, with
its /score p99 set by one process doing the work of two.

Here each worker accepts one connection at a time from the shared socket and writes how many
connections it holds to a small shared board (a file the parent creates, one slot per worker,
mmap'd). A worker holding more connections than the least loaded live worker lets that worker
take the next connection: it waits `YIELD_S` (2 ms) before accepting, and accepts after that
anyway, so a busy or stuck peer costs a new connection at most 2 ms, never the connection. A
worker takes its slot only once its start-up (champions loaded and warmed up,
driftline.service.live) is over, so connections never wait for a worker that is not ready.

`BalancedMultiprocess` is uvicorn's supervisor (restarts, health checks, signals) whose workers
run `BalancedServer`: uvicorn's Server with this accept loop in place of `loop.create_server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import socket
import struct
from pathlib import Path
from typing import Any

from uvicorn.server import Server
from uvicorn.supervisors import multiprocess

log = logging.getLogger(__name__)

BOARD_VAR = "DRIFTLINE_SERVICE_BALANCE_FILE"
SLOT = struct.Struct("<qq")  # pid, connections
MAX_SLOTS = 64
YIELD_S = 0.002
PUBLISH_EVERY_S = 0.5


def create_board(path: Path, slots: int) -> None:
    """An empty board of `slots` slots (the parent, before the workers start)."""
    path.write_bytes(b"\0" * SLOT.size * max(1, min(slots, MAX_SLOTS)))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, not ours to judge
        return True
    return True


class Board:
    """One worker's view of the shared board: its own slot to write, the others' to read."""

    def __init__(self, path: Path, pid: int | None = None) -> None:
        self.pid = pid or os.getpid()  # (a test plays two workers from one process)
        self._file = path.open("r+b")
        self._map = mmap.mmap(self._file.fileno(), 0)
        self.slots = len(self._map) // SLOT.size
        self.slot = self._claim()

    def _claim(self) -> int:
        """The first slot that is free or whose worker has died (under a file lock: workers start at once)."""
        pid = self.pid
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        try:
            for i in range(self.slots):
                owner, _ = SLOT.unpack_from(self._map, i * SLOT.size)
                if owner == 0 or owner == pid or not alive(owner):
                    SLOT.pack_into(self._map, i * SLOT.size, pid, 0)
                    return i
        finally:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        raise RuntimeError(f"the connection board {self._file.name} has no free slot ({self.slots} slots)")

    def publish(self, connections: int) -> None:
        SLOT.pack_into(self._map, self.slot * SLOT.size, self.pid, connections)

    def least_of_others(self) -> int | None:
        """The fewest connections a live other worker holds (None: no other worker serving)."""
        fewest: int | None = None
        for i in range(self.slots):
            if i == self.slot:
                continue
            owner, connections = SLOT.unpack_from(self._map, i * SLOT.size)
            if owner and (fewest is None or connections < fewest):
                fewest = connections
        return fewest

    def should_yield(self, connections: int) -> bool:
        """Let a less loaded worker take the next connection?"""
        self.publish(connections)
        fewest = self.least_of_others()
        return fewest is not None and fewest < connections

    def release(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            SLOT.pack_into(self._map, self.slot * SLOT.size, 0, 0)
            self._map.close()
            self._file.close()


class _Acceptor:
    """What uvicorn's shutdown expects of a server in `Server.servers`: close() and wait_closed()."""

    def __init__(self, tasks: list[asyncio.Task[None]], board: Board) -> None:
        self.tasks = tasks
        self.board = board

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.board.release()

    async def wait_closed(self) -> None:
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class BalancedServer(Server):
    """uvicorn's Server; given the supervisor's shared sockets it accepts through `accept_loop`."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        path = os.environ.get(BOARD_VAR)
        if not sockets or not path:
            await super().startup(sockets)
            return
        await super().startup([])  # the lifespan (champions loaded and warmed up), no listener
        if self.should_exit or not self.started:
            return
        config = self.config
        loop = asyncio.get_running_loop()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=_loop,
            )

        board = Board(Path(path))
        tasks = [loop.create_task(self.accept_loop(sock, create_protocol, board)) for sock in sockets]
        tasks.append(loop.create_task(self.publish_loop(board)))
        self.servers.append(_Acceptor(tasks, board))  # type: ignore[arg-type]

    def connections(self) -> int:
        return len(self.server_state.connections)

    async def publish_loop(self, board: Board) -> None:
        """Closed connections reach the board too (accepts publish as they happen)."""
        while True:
            board.publish(self.connections())
            await asyncio.sleep(PUBLISH_EVERY_S)

    async def accept_loop(self, sock: socket.socket, create_protocol: Any, board: Board) -> None:
        loop = asyncio.get_running_loop()
        sock.listen(self.config.backlog)  # uvicorn's parent binds it; loop.create_server would listen
        sock.setblocking(False)
        fd = sock.fileno()
        while True:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _wake, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
            if board.should_yield(self.connections()):
                await asyncio.sleep(YIELD_S)
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another worker took it
            except OSError as exc:  # e.g. out of file descriptors: back off, as asyncio does
                log.error("accepting a connection failed: %s", exc)
                await asyncio.sleep(1)
                continue
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                await loop.connect_accepted_socket(create_protocol, conn)
            except Exception as exc:
                log.warning("a new connection could not be served: %s", exc)
                conn.close()
                continue
            board.publish(self.connections())


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class BalancedProcess(multiprocess.Process):
    """uvicorn's worker process running a BalancedServer."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = BalancedServer(config=self.config)
        return self._server


class BalancedMultiprocess(multiprocess.Multiprocess):
    """uvicorn's supervisor whose workers (started, restarted, replaced) are BalancedProcesses."""

    def run(self) -> None:
        original = multiprocess.Process
        multiprocess.Process = BalancedProcess  # type: ignore[misc]  # the supervisor's own lookups
        try:
            super().run()
        finally:
            multiprocess.Process = original  # type: ignore[misc]
