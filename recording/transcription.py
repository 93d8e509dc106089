"""Speech recognition off the event loop: a pool of worker processes, each with the
Vosk model loaded once, and the two legs of a recording transcribed side by side."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from time import monotonic

from . import worker
from .dialogue import Utterance, Word, merge_dialogue

__all__ = ["CHANNEL_OF", "ModelLoadFailed", "ModelNotFound", "Transcriber", "WorkerCrashed"]

# Stereo recordings carry the customer on the left, the agent on the right.
CHANNEL_OF = {"customer": 0, "agent": 1}
_READY_TIMEOUT_S = 300.0


class ModelNotFound(FileNotFoundError):
    """The configured model directory does not exist."""


class ModelLoadFailed(RuntimeError):
    """A worker could not load the model (not a Vosk model, or out of memory)."""


class WorkerCrashed(RuntimeError):
    """A worker process died (killed, out of memory, a crash inside Vosk)."""


class Transcriber:
    """``start()`` → transcribe → ``close()``; one model per worker process."""

    def __init__(self, model_path: Path, workers: int) -> None:
        self.model_path = Path(model_path)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._restart_lock = asyncio.Lock()

    @property
    def model_name(self) -> str:
        """What a transcript records as its model: the model directory, or its package."""
        name = self.model_path.name
        return self.model_path.parent.name if name == "model" else name

    async def start(self) -> float:
        """Start the workers and wait until each has loaded the model; returns seconds."""
        if not self.model_path.is_dir():
            raise ModelNotFound(
                f"no Vosk model at {self.model_path} (set [recording] model_path to the "
                "directory of the model of your language)"
            )
        began = monotonic()
        self._pool = await self._open_pool()
        return monotonic() - began

    async def _open_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs an event loop and database connections.
        context = multiprocessing.get_context("spawn")
        ready = context.Barrier(self.workers)
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=worker.load_model,
            initargs=(str(self.model_path), ready),
        )
        loop = asyncio.get_running_loop()
        # The barrier holds each call until all workers are up, so every worker
        # process gets one: none is left to load its model during the first job.
        try:
            await asyncio.gather(
                *(
                    loop.run_in_executor(pool, worker.wait_ready, _READY_TIMEOUT_S)
                    for _ in range(self.workers)
                )
            )
        except BrokenProcessPool:
            # The initializer raised (or the process died) in a worker.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
            raise ModelLoadFailed(f"cannot load the Vosk model at {self.model_path}") from None
        return pool

    async def transcribe_leg(
        self, path: Path, sample_rate: int, channel: int | None = None
    ) -> list[Word]:
        """Words of one channel of a file (``None``: a mono leg or all channels mixed)."""
        if self._pool is None:
            raise RuntimeError("Transcriber.start() has not been called")
        pool = self._pool
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                pool, worker.transcribe, str(path), sample_rate, channel
            )
        except BrokenProcessPool:
            await self._replace(pool)
            raise WorkerCrashed(f"a transcription worker died on {path.name}") from None

    async def transcribe_stereo(self, path: Path, sample_rate: int) -> tuple[Utterance, ...]:
        """A stereo recording → the dialogue, each side recognised on its own."""
        customer, agent = await asyncio.gather(
            self.transcribe_leg(path, sample_rate, CHANNEL_OF["customer"]),
            self.transcribe_leg(path, sample_rate, CHANNEL_OF["agent"]),
        )
        return merge_dialogue(customer, agent)

    async def _replace(self, broken: ProcessPoolExecutor) -> None:
        # A broken pool refuses all further work; the first job to see it breaks
        # opens a fresh one, the others find it already replaced.
        async with self._restart_lock:
            if self._pool is not broken:
                return
            await asyncio.to_thread(broken.shutdown, wait=True, cancel_futures=True)
            self._pool = await self._open_pool()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
