"""Speaker face analysis of a video file, in this process or in a child process running ahead.

Offline generation spends its time in two places that do not depend on each other until the
model needs a frame's face: MediaPipe on every video frame (decode, RGB conversion, Face
Landmarker) and torch (import, model load, the streaming windows). Run one after the other
they add up. :class:`FaceAnalysisProcess` decodes and analyses the video in a child process
while the parent imports torch, loads the model and runs the streaming engine on the frames
already analysed, so on two cores the wall time is close to the larger of the two.

The child runs exactly the code of the serial path (:func:`analyse_video`: the same frames,
timestamps and :class:`~reactface_ros.face_analysis.FaceAnalyzer` calls in the same order),
so both give identical features and therefore identical reactions (``reactface generate
--serial`` runs the serial path; a test compares them). The child is forked when torch has
not been imported yet (it never needs torch, and forking is the fastest start) and spawned
otherwise.
"""
from __future__ import annotations

import multiprocessing
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

from reactface_ros.constants import FPS
from reactface_ros.face_analysis import FaceAnalysisConfig, SpeakerFaceFeatures

#: One face (``group=False``) or every face with its track id (``group=True``).
Faces = Union[SpeakerFaceFeatures, list]

#: Frames sent to the parent per message.
BATCH_FRAMES = 8


@dataclass
class AnalysedFrame:
    """One decoded and analysed video frame.

    Attributes
    ----------
    index : int
        Frame number in decoding order, from 0.
    stamp : float
        Seconds; the frame's presentation time, made strictly increasing.
    faces : SpeakerFaceFeatures or list of (str, SpeakerFaceFeatures)
        :meth:`FaceAnalyzer.analyze` (``group=False``) or
        :meth:`FaceAnalyzer.analyze_faces` (``group=True``) of the frame.
    """

    index: int
    stamp: float
    faces: Faces


def analyse_video(path: str | Path, config: FaceAnalysisConfig,
                  group: bool = False) -> Iterator[AnalysedFrame]:
    """Decode ``path`` and analyse every frame in this process, in time order.

    Raises ``ValueError`` when the file has no video track.
    """
    import av

    from reactface_ros.face_analysis import FaceAnalyzer
    from reactface_ros.video import rgb_converter

    with FaceAnalyzer(config) as analyzer, av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video track")
        to_rgb = rgb_converter()
        last: float | None = None
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            stamp = frame.time if frame.time is not None else n / FPS
            if last is not None and stamp <= last:
                stamp = last + 1e-6          # keep stamps increasing for odd files
            last = stamp
            image = to_rgb(frame)
            faces = (analyzer.analyze_faces(image, stamp * 1000.0) if group
                     else analyzer.analyze(image, stamp * 1000.0))
            yield AnalysedFrame(n, float(stamp), faces)


class FaceAnalysisProcess:
    """:func:`analyse_video` in a child process; iterate to get its frames in order.

    Start it before importing torch: the child then forks without torch's threads and runs
    while the parent imports and loads the model. An error in the child (an undecodable
    file, a missing face model) is raised again by the iteration, as the same exception
    where it can be pickled. Use it as a context manager (or call :meth:`close`) so the child
    never outlives the caller.

    Parameters
    ----------
    path : str or Path
        Speaker video file.
    config : FaceAnalysisConfig
        The analyzer's settings.
    group : bool
        Every face with its id (:meth:`FaceAnalyzer.analyze_faces`) instead of one.
    """

    def __init__(self, path: str | Path, config: FaceAnalysisConfig, group: bool = False) -> None:
        methods = multiprocessing.get_all_start_methods()
        method = "fork" if "fork" in methods and "torch" not in sys.modules else "spawn"
        ctx = multiprocessing.get_context(method)
        self.start_method = method
        self.config = config
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(str(path), config, group, send),
                                 name="reactface-face-analysis", daemon=True)
        self._proc.start()
        send.close()

    def __iter__(self) -> Iterator[AnalysedFrame]:
        """The analysed frames, in order; raises the child's error, if any."""
        while True:
            try:
                kind, payload = self._recv.recv()
            except EOFError:
                self._proc.join(timeout=5.0)
                raise RuntimeError(f"the face-analysis process ended without finishing (exit "
                                   f"code {self._proc.exitcode}); run with --serial to see "
                                   "the error in this process") from None
            if kind == "frames":
                yield from payload
            elif kind == "error":
                raise payload
            else:
                return

    def __enter__(self) -> "FaceAnalysisProcess":
        """Return the process handle itself."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Stop the child (see :meth:`close`)."""
        self.close()

    def close(self) -> None:
        """Stop the child if it still runs and release the pipe (idempotent)."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=5.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._recv.close()


def _child(path: str, config: FaceAnalysisConfig, group: bool, conn) -> None:
    """Child process body: analyse, send frames in batches, then "done" or the error."""
    try:
        batch: list[AnalysedFrame] = []
        for item in analyse_video(path, config, group):
            batch.append(item)
            if len(batch) >= BATCH_FRAMES:
                conn.send(("frames", batch))
                batch = []
        if batch:
            conn.send(("frames", batch))
        conn.send(("done", None))
    except BaseException as exc:  # everything goes back to the parent, which decides
        _send_error(conn, exc)
    finally:
        conn.close()


def _send_error(conn, exc: BaseException) -> None:
    try:
        conn.send(("error", exc))
    except Exception:  # an exception that does not pickle: its type and message instead
        try:
            conn.send(("error", _portable(exc)))
        except (OSError, ValueError):  # the parent is gone
            pass


def _portable(exc: BaseException) -> BaseException:
    """A picklable stand-in that keeps the one-line error class of the command line."""
    message = f"{exc}"
    filename = getattr(exc, "filename", None)
    if isinstance(exc, OSError) or type(exc).__module__.startswith("av"):
        return OSError(0, message, filename) if filename else OSError(message)
    if isinstance(exc, ValueError):
        return ValueError(message)
    return RuntimeError(f"{type(exc).__name__}: {message}")


__all__ = ["AnalysedFrame", "FaceAnalysisProcess", "analyse_video"]
