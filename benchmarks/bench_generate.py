"""Offline generation (`reactface generate`): whole-process wall time and where it goes.

Cuts the first ``--seconds`` of a speaker clip (the bundled one by default) by copying its
packets (no re-encoding), then

1. runs ``reactface generate`` on it as a user does, a fresh process each time, with the faces
   analysed in a child process ahead of the model (the default) and with ``--serial``
   (everything one after the other, as before), and prints wall and CPU seconds;
2. times each stage on its own in a fresh process: importing torch, importing mediapipe (with
   and without its drawing utilities), loading the model, creating the Face Landmarker,
   decoding and analysing every frame (one face; up to 4 faces with the multi-face probe),
   and the model (audio decode plus streaming windows) on frames already analysed.

The public ReactFace code took 317 s for 10 samples of an 8 s clip on the same 2-core CPU
(measured when the issue was filed); the speed-up column divides that by the wall time.
Prints a table, or JSON with ``--json``. Not a test: the machine's load changes the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PUBLIC_CODE_S = 317.0     # the public code on 10 samples of an 8 s clip, 2 CPU cores

STAGES = r"""
import json, sys, time
t = time.perf_counter
out = {}
a = t(); import torch; out["import torch"] = t() - a
from reactface_ros.face_analysis import import_mediapipe
a = t(); import_mediapipe(); out["import mediapipe (without drawing utils)"] = t() - a
from reactface_ros.streaming import set_cpu_threads
from reactface_ros.model import ReactFace
from reactface_ros.commands.generate import face_analysis_config, generate_from_video
from reactface_ros.face_analysis import FaceAnalyzer
from reactface_ros.face_process import analyse_video
set_cpu_threads(1)
a = t(); model = ReactFace.from_pretrained(sys.argv[2]); out["load model"] = t() - a
video, samples = sys.argv[1], int(sys.argv[3])
config = model.config
a = t(); FaceAnalyzer(face_analysis_config(config)).close(); out["create Face Landmarker"] = t() - a
for faces in (1, 4):
    a = t()
    frames = list(analyse_video(video, face_analysis_config(config, max_faces=faces), faces > 1))
    out[f"decode + analyse {len(frames)} frames, max {faces} face(s)"] = t() - a
frames = list(analyse_video(video, face_analysis_config(config)))
a = t()
generate_from_video(video, None, model, samples, 0, frames=frames)
out[f"model: audio decode + streaming, M = {samples}"] = t() - a
print(json.dumps(out))
"""

FULL_MEDIAPIPE = ("import time; a = time.perf_counter(); import mediapipe; "
                  "print(time.perf_counter() - a)")


def cut_clip(source: Path, seconds: float, out: Path) -> Path:
    """Copy the packets of the first ``seconds`` of ``source`` into ``out`` (no re-encoding)."""
    import av

    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        streams = {}
        for s in src.streams:
            if s.type in ("video", "audio"):
                streams[s.index] = dst.add_stream_from_template(s)
        for packet in src.demux():
            if packet.stream.index not in streams or packet.dts is None:
                continue
            if packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                continue
            packet.stream = streams[packet.stream.index]
            dst.mux(packet)
    return out


def run_generate(clip: Path, checkpoint: Path, samples: int, serial: bool,
                 out: Path) -> tuple[float, float]:
    """One whole ``reactface generate`` process: (wall s, CPU s of the process tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "reactface_ros.cli", "generate", "--speaker-video", str(clip),
           "--checkpoint", str(checkpoint), "--samples", str(samples), "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd + (["--serial"] if serial else []), check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    """Print the whole-process figures and the stage times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=REPO / "models" / "sample" / "speaker.mp4")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "models" / "reactface_cpu")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the cut clip")
    parser.add_argument("--samples", type=int, default=10, help="M")
    parser.add_argument("--repeats", type=int, default=3, help="whole-process runs per mode")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clip = cut_clip(args.clip, args.seconds, Path(tmp) / "clip.mp4")
        whole = {}
        for mode, serial in (("child process", False), ("serial", True)):
            runs = [run_generate(clip, args.checkpoint, args.samples, serial,
                                 Path(tmp) / "out.npy") for _ in range(args.repeats)]
            walls = [w for w, _ in runs]
            whole[mode] = {"wall_s_median": statistics.median(walls), "wall_s_min": min(walls),
                           "cpu_s_median": statistics.median(c for _, c in runs),
                           "speedup_vs_public_code": PUBLIC_CODE_S / statistics.median(walls)}
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        stages = json.loads(subprocess.run(
            [sys.executable, "-c", STAGES, str(clip), str(args.checkpoint), str(args.samples)],
            check=True, cwd=REPO, capture_output=True, text=True, env=env).stdout)
        full = float(subprocess.run([sys.executable, "-c", FULL_MEDIAPIPE], check=True,
                                    capture_output=True, text=True).stdout)
        stages["import mediapipe (everything, as `import mediapipe`)"] = full
    result = {"clip_s": args.seconds, "samples": args.samples, "cpu_count": os.cpu_count(),
              "whole_process": whole, "stages_s": stages}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"reactface generate, {args.seconds:g} s clip, M = {args.samples}, "
          f"{os.cpu_count()} CPUs, {args.repeats} runs per mode")
    print(f"{'mode':<16} {'wall s (median)':>16} {'wall s (min)':>13} {'CPU s':>7} "
          f"{'x public code':>14}")
    for mode, r in whole.items():
        print(f"{mode:<16} {r['wall_s_median']:16.2f} {r['wall_s_min']:13.2f} "
              f"{r['cpu_s_median']:7.2f} {r['speedup_vs_public_code']:14.0f}")
    print("\nstage (each alone, one process)                      seconds")
    for name, seconds in stages.items():
        print(f"{name:<52} {seconds:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
