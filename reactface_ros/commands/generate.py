"""``reactface generate``: run the streaming engine over a speaker video file.

The speaker video (and its audio, or ``--speaker-audio``) is decoded with PyAV and pushed,
in time order and with the file's timestamps, into :class:`reactface_ros.streaming.ReactionStream`
exactly as a live session would be: face features (``blendshapes``) or face crops
(``conv3d``) from :class:`reactface_ros.face_analysis.FaceAnalyzer`, audio chunks at the
file's own sample rate. The result is an ``(M, T, 58)`` float32 ``.npy`` of de-normalised
FaceVerse coefficients, one row per video frame (T = number of video frames; a video that is
not 25 fps reads each frame's reaction from the 25 fps slot nearest its timestamp).

A checkpoint made from a random init (``ReactFace(config).save_pretrained(dir)``) runs too; its
reactions are noise around the mean face until the model is trained.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from reactface_ros.constants import CPU_INFERENCE_THREADS, FPS

if TYPE_CHECKING:
    from reactface_ros.face_analysis import FaceAnalysisConfig
    from reactface_ros.face_process import AnalysedFrame


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("--speaker-video", required=True, type=Path, help="speaker video file")
    parser.add_argument("--speaker-audio", type=Path, default=None,
                        help="speaker audio file (default: the video's own audio track)")
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="ReactFace checkpoint directory (model.safetensors + config.json)")
    parser.add_argument("--samples", type=int, default=10, help="M reactions to sample")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--threads", type=int, default=CPU_INFERENCE_THREADS,
                        help="torch CPU threads (default 1, the fastest for the CPU models; "
                             "0: torch's default, one per core)")
    parser.add_argument("--face-model", default=None,
                        help="MediaPipe face_landmarker.task (default: searched)")
    parser.add_argument("--persona", type=int, default=None,
                        help="persona slot every sample uses (models with persona slots; "
                             "default: sample m uses slot m mod personas)")
    parser.add_argument("--motion-gain", type=float, default=None,
                        help="how expressive the reactions are: the size of every smile and "
                             "nod, never their timing (anchored models; default: the "
                             "checkpoint's motion_gain)")
    parser.add_argument("--listener-face", type=Path, default=None,
                        help="the listener's resting face (.npy of 58 values or .json of "
                             "blendshape names) the reactions move around (default neutral)")
    parser.add_argument("--max-faces", type=int, default=4,
                        help="faces tracked per frame; with several in view the model hears "
                             "the active speaker and the listener turns toward them (1: only "
                             "the first face, as a dyadic session)")
    parser.add_argument("--gaze-gain", type=float, default=1.0,
                        help="head turn toward the active speaker per radian of their angle "
                             "in the image (0 disables; see README 'Group conversations')")
    parser.add_argument("--tracks", type=Path, default=None, metavar="OUT.json",
                        help="write the per-frame faces and active-speaker id to this JSON")
    parser.add_argument("--serial", action="store_true",
                        help="analyse the speaker's faces in this process, before the model "
                             "(default: in a child process that runs ahead of the model; "
                             "the reactions are the same, the serial path is slower)")
    parser.add_argument("--out", required=True, type=Path, help="output .npy (M, T, 58)")


def decode_audio(path: Path, stream_index: int = 0) -> list[tuple[np.ndarray, int, float]]:
    """Decode an audio track into ``(mono float32 samples, sample_rate, stamp_s)`` chunks.

    Returns an empty list when the file has no audio track.
    """
    import av

    chunks: list[tuple[np.ndarray, int, float]] = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return chunks
        stream = container.streams.audio[stream_index]
        resampler = None
        position = 0.0
        for frame in container.decode(stream):
            if resampler is None:
                resampler = av.AudioResampler(format="flt", layout="mono",
                                              rate=frame.sample_rate)
            stamp = frame.time if frame.time is not None else position
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1).astype(np.float32)
                chunks.append((samples, out.sample_rate, stamp))
                stamp += samples.size / out.sample_rate
            position = stamp
    return chunks


def face_analysis_config(model_config, face_model: str | None = None,
                         max_faces: int = 1) -> FaceAnalysisConfig:
    """The :class:`FaceAnalysisConfig` a model needs (crops only for ``conv3d``).

    ``model_config`` is the model's :class:`~reactface_ros.model.ReactFaceConfig` or the
    ``config.json`` dict of a checkpoint (read before torch is imported).
    """
    from reactface_ros.face_analysis import FaceAnalysisConfig

    cfg = model_config if isinstance(model_config, dict) else model_config.to_dict()
    return FaceAnalysisConfig(model_path=face_model, crop_size=int(cfg.get("crop_size", 112)),
                              return_crop=cfg.get("face_encoder") == "conv3d",
                              max_faces=max_faces)


def generate_from_video(video: Path, audio: Path | None, model, samples: int, seed: int,
                        face_model: str | None = None, listener_face: np.ndarray | None = None,
                        persona: int | None = None, max_faces: int = 1,
                        gaze_gain: float = 1.0, tracks: list | None = None,
                        frames: Iterable[AnalysedFrame] | None = None):
    """Stream a video file through ReactFace.

    With ``max_faces > 1`` every face is tracked and a
    :class:`reactface_ros.group.GroupListener` picks the one the model hears (the active
    speaker) and turns the reactions toward them (``gaze_gain``); one face in view gives the
    same reactions as ``max_faces=1``. ``tracks``, when a list, receives one dict per video
    frame: ``frame``, ``time``, ``active`` (id or None), ``fed`` and ``faces`` (id, box,
    score). ``frames`` are the video's analysed frames when they come from elsewhere (a
    :class:`~reactface_ros.face_process.FaceAnalysisProcess` started with
    :func:`face_analysis_config` of this model and ``max_faces``, ``group`` when
    ``max_faces > 1``); by default they are analysed here, one after the other.

    Returns
    -------
    tuple
        ``(M, T, 58)`` float32 reactions (one per video frame) and the stream's health dict.
    """
    from reactface_ros.face_process import analyse_video
    from reactface_ros.streaming import ReactionStream

    conv3d = model.config.face_encoder == "conv3d"
    audio_chunks = decode_audio(audio if audio is not None else video)
    stream = ReactionStream(model, num_samples=samples, seed=seed, max_lag_s=None,
                            listener_face=listener_face, persona=persona)
    slots: dict[int, np.ndarray] = {}
    stamps: list[float] = []

    def collect(windows) -> None:
        for win in windows:
            for i in range(win.reactions.shape[1]):
                slots[win.start_frame + i] = win.reactions[:, i]

    group = None
    if max_faces > 1:
        from reactface_ros.gaze import GazeController
        from reactface_ros.group import GroupListener

        group = GroupListener(gaze=GazeController(gain=gaze_gain,
                                                  eye_gain=0.5 if gaze_gain else 0.0))
    if frames is None:
        frames = analyse_video(video, face_analysis_config(model.config, face_model, max_faces),
                               group=group is not None)
    gazes: list[np.ndarray] = []
    next_audio = 0
    for item in frames:
        stamp = item.stamp
        # audio that starts before the end of this frame goes in first
        while next_audio < len(audio_chunks) and \
                audio_chunks[next_audio][2] < stamp + 1.0 / FPS:
            collect(stream.push_audio(*audio_chunks[next_audio]))
            if group is not None:
                group.push_audio(*audio_chunks[next_audio])
            next_audio += 1
        if group is None:
            feats = item.faces
            face = (feats.crop if feats.face_found else None) if conv3d else feats.to_vector()
        else:
            face = _group_frame(group, item.faces, stamp, item.index, conv3d, gazes, tracks)
        collect(stream.push_face(face, stamp))
        stamps.append(stamp)
    if not stamps:
        raise ValueError(f"{video} has no decodable video frames")
    if not audio_chunks:
        print("warning: no audio track; the speaker is treated as silent", file=sys.stderr)
    collect(stream.flush())
    last = max(slots)
    out = np.stack([slots[min(last, int(round((s - stream.origin) * FPS)))] for s in stamps],
                   axis=1)
    if group is not None:
        for n, offset in enumerate(gazes):
            out[:, n] = group.apply_gaze(out[:, n], offset)
    return out.astype(np.float32), stream.health.as_dict()


def _group_frame(group, faces, stamp: float, n: int, conv3d: bool, gazes: list,
                 tracks: list | None):
    """One frame of several faces through the group listener; what the model is fed."""
    from reactface_ros.group import GroupFace

    decided = group.frame(stamp, [GroupFace(fid, f.to_vector(), f.box, f.crop)
                                  for fid, f in faces])
    gazes.append(decided.gaze)
    if tracks is not None:
        scores = decided.estimate.scores
        tracks.append({"frame": n, "time": round(float(stamp), 4),
                       "active": decided.estimate.active, "fed": decided.fed,
                       "faces": [{"id": fid, "box": [round(float(v), 4) for v in f.box],
                                  "score": round(float(scores.get(fid, 0.0)), 3)}
                                 for fid, f in faces]})
    if conv3d:
        return decided.crop if decided.fed is not None else None
    return decided.vector


def _write_tracks(path: Path, tracks: list, max_faces: int) -> None:
    from reactface_ros.atomic import write_json

    write_json(path, {"fps": FPS, "max_faces": max_faces, "frames": tracks}, indent=None)
    switches = sum(1 for a, b in zip(tracks, tracks[1:])
                   if a["active"] and b["active"] and a["active"] != b["active"])
    print(f"wrote {path}: {len(tracks)} frames, {switches} change(s) of active speaker")


def _start_face_process(args: argparse.Namespace):
    """Start the face-analysis child of this command (None if the checkpoint is unreadable).

    When the checkpoint's ``config.json`` cannot be read here, loading the model names the
    problem, and the faces would be analysed serially.
    """
    import json

    from reactface_ros.face_process import FaceAnalysisProcess

    try:
        raw = json.loads((args.checkpoint / "config.json").read_text())
        config = face_analysis_config(raw, args.face_model, args.max_faces)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return FaceAnalysisProcess(args.speaker_video, config, group=args.max_faces > 1)


def _prepare(args: argparse.Namespace):
    """Threads, model and listener face of the command, or an exit code after an error."""
    from reactface_ros.model import ReactFace
    from reactface_ros.model.checkpoint import CheckpointError
    from reactface_ros.streaming import set_cpu_threads

    try:
        set_cpu_threads(args.threads)
    except ValueError:
        print(f"error: --threads must be >= 0 (0: torch's default), got {args.threads}",
              file=sys.stderr)
        return 2
    try:
        model = ReactFace.from_pretrained(args.checkpoint, device=args.device)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    listener_face = None
    try:
        if args.listener_face is not None:
            from reactface_ros.listener_face import load_listener_face

            listener_face = load_listener_face(args.listener_face)
        model.persona_slots(1, args.persona)          # names a bad --persona at once
        if args.motion_gain is not None:
            model.set_motion_gain(args.motion_gain)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return model, listener_face


def run(args: argparse.Namespace) -> int:
    """Generate reactions for a speaker video and save them as ``.npy``."""
    if args.samples < 1:
        print("error: --samples must be >= 1", file=sys.stderr)
        return 2
    if args.seed < 0:
        print("error: --seed must be >= 0", file=sys.stderr)
        return 2
    if not 1 <= args.max_faces <= 16:
        print(f"error: --max-faces must be in 1..16, got {args.max_faces}", file=sys.stderr)
        return 2
    if not np.isfinite(args.gaze_gain):
        print("error: --gaze-gain must be a finite number", file=sys.stderr)
        return 2
    for path, what in ((args.speaker_video, "--speaker-video"),
                       (args.speaker_audio, "--speaker-audio")):
        if path is not None and not path.is_file():
            print(f"error: {what} {path} does not exist", file=sys.stderr)
            return 2
    try:
        from reactface_ros.video import probe_video

        probe_video(args.speaker_video, "--speaker-video")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Faces are analysed in a child process started before torch is imported (see
    # reactface_ros.face_process); it runs while this process imports torch and loads the model.
    early = None if args.serial else _start_face_process(args)
    try:
        prepared = _prepare(args)
        if isinstance(prepared, int):
            return prepared
        model, listener_face = prepared
        frames = None
        if early is not None and early.config == face_analysis_config(
                model.config, args.face_model, args.max_faces):
            frames = early
        t0 = time.perf_counter()
        tracks: list | None = [] if args.tracks is not None else None
        reactions, health = generate_from_video(args.speaker_video, args.speaker_audio, model,
                                                args.samples, args.seed, args.face_model,
                                                listener_face, args.persona, args.max_faces,
                                                args.gaze_gain, tracks, frames)
    finally:
        if early is not None:
            early.close()
    wall = time.perf_counter() - t0
    from reactface_ros.atomic import save_npy

    save_npy(args.out, reactions)   # exactly --out (no .npy appended), atomically
    if tracks is not None:
        _write_tracks(args.tracks, tracks, args.max_faces)
    if health.get("no_face_frames", 0) >= health.get("frames_received", 0) > 0:
        print(f"warning: no face was found in any frame of {args.speaker_video}; the "
              "reactions answer the audio only", file=sys.stderr)
    num_frames = reactions.shape[1]
    print(f"wrote {args.out}: {reactions.shape} (M, T, 58) float32, {num_frames} frames "
          f"({num_frames / FPS:.1f} s) in {wall:.1f} s")
    print("stream health: " + ", ".join(f"{k}={v}" for k, v in health.items() if v))
    return 0
