"""Writing an augmented set while it is generated: each image encoded and written atomically on a
thread pool, off the critical path, then its manifest line appended (the manifest's format and
how it is kept in step with the files: ``stylaug.artifacts.manifest``)."""

from __future__ import annotations

import collections
import hashlib
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from pytorch_lightning.callbacks import BasePredictionWriter

from stylaug.artifacts.manifest import FORMATS, MANIFEST, SCORE_KEYS
from stylaug.core.cost import trainer_device
from stylaug.core.io import append_jsonl, atomic_path

log = logging.getLogger(__name__)


def write_image(path: Path, array: np.ndarray, fmt: str, quality: int) -> str:
    """Encode and write one image atomically (temp name + rename); its sha256, which the manifest
    records so a damaged file is found later. PNG at zlib level 1: the same pixels for a fraction
    of level 6's CPU, which would otherwise be taken from the network."""
    options = {"quality": quality} if fmt == "jpeg" else {"compress_level": 1}
    encoded = io.BytesIO()
    Image.fromarray(array).save(encoded, format=FORMATS[fmt][0], **options)
    data = encoded.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


class ManifestWriter(BasePredictionWriter):
    """Encodes and writes each stylized image on a thread pool, then appends its manifest line.

    ``jobs[i]`` describes dataset item i (Lightning passes each batch's dataset indices). At most
    ``max_pending`` images wait in memory, so memory does not grow with the run length.
    """

    def __init__(self, jobs, out_dir, quality, row_extra: dict, threads=2, max_pending=64):
        super().__init__(write_interval="batch")
        self.jobs, self.out_dir, self.quality = jobs, Path(out_dir), int(quality)
        self.row_extra = row_extra  # stylizer id -> extra manifest keys (hash, settings, ...)
        self.threads, self.max_pending = int(threads), int(max_pending)
        self.pool = self.pending = None

    def setup(self, trainer, pl_module, stage):
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="augment-writer")
        self.pending = collections.deque()
        self.rank = trainer.global_rank
        self.written = self.failed = 0
        self.device = trainer_device(trainer)["kind"]

    def on_predict_start(self, trainer, pl_module):
        self.clock = time.perf_counter()

    def write_one(self, i: int, array: np.ndarray, scores: list[float], seconds: float) -> None:
        job = self.jobs[i]
        sha256 = write_image(self.out_dir / job.output, array, job.format, self.quality)
        row = {
            "source": job.source,
            "view": job.view,
            "class": job.cls,
            "stylizer_id": job.stylizer,
            "format": job.format,
            "output": job.output,
            "sha256": sha256,
            **self.row_extra[job.stylizer],
            "rank": self.rank,
            "gen_seconds": round(seconds, 6),  # this image's share of its batch's wall time
            "device": self.device,
        }
        if job.alpha is not None and "alpha" in row:  # a family set (not the paper's johnson)
            row["image_alpha"] = round(job.alpha, 6)
        if job.style is not None:
            row["style_source"] = job.style
        if not np.isnan(scores[0]):
            row.update(zip(SCORE_KEYS, (round(float(v), 6) for v in scores), strict=True))
        append_jsonl(self.out_dir / MANIFEST, row)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, *args):
        images, scores = prediction
        images, scores, ok = images.permute(0, 2, 3, 1).numpy(), scores.tolist(), batch[2]
        now = time.perf_counter()
        seconds, self.clock = (now - self.clock) / max(1, len(batch_indices)), now
        for k, i in enumerate(batch_indices):
            if ok[k]:
                self.pending.append(
                    self.pool.submit(self.write_one, i, images[k], scores[k], seconds)
                )
            else:
                log.warning("could not read %s: not stylized", self.jobs[i].source)
                self.failed += 1
        while len(self.pending) > self.max_pending:
            self._finish_one()

    def _finish_one(self):
        self.pending.popleft().result()  # re-raises a writing error here, in the main thread
        self.written += 1

    def on_exception(self, trainer, pl_module, exception):
        """Interrupted (a stop signal, an error): images already handed to the pool are finished
        with their lines, so a rerun keeps them."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def on_predict_end(self, trainer, pl_module):
        while self.pending:
            self._finish_one()
        self.pool.shutdown()
        trainer.strategy.barrier("augment-writer")  # every rank's files and lines are in place
        log.info("rank %d wrote %d images (%d unreadable)", self.rank, self.written, self.failed)
