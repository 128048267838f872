"""``audio_capture`` node: microphone -> ``AudioChunk`` stamped with capture time.

Uses ``sounddevice`` (PortAudio), imported only when the node starts. Each chunk is stamped
with the wall-clock time its first sample was captured (PortAudio's ADC time when the backend
reports it, else ``now - chunk length``).
"""
from __future__ import annotations

import queue
import threading
import time

import numpy as np

from reactface_ros.constants import AUDIO_SAMPLE_RATE

from . import diagnostics as diag
from .common import (AUTOSTART, DIAGNOSTICS_TOPIC, ManagedNode, NodeStartError, ParamSpec,
                     TopicSpec, msg_class, run_node)
from .conversions import audio_chunk_msg
from .qos import qos_profile


def list_input_devices(sd) -> list[str]:
    """``"index: name (channels ch, rate Hz)"`` for every input device PortAudio reports."""
    out = []
    for i, dev in enumerate(sd.query_devices()):
        if int(dev.get("max_input_channels", 0)) > 0:
            out.append(f"{i}: {dev['name']} ({dev['max_input_channels']} ch, "
                       f"{int(dev.get('default_samplerate', 0))} Hz)")
    return out


def open_microphone(device: str, sample_rate: int, channels: int, chunk: int, callback):
    """Open a ``sounddevice.InputStream``, or fail with the list of devices found.

    Raises
    ------
    NodeStartError
        ``sounddevice``/PortAudio missing, no input device, or the device cannot be opened.
    """
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise NodeStartError(f"sounddevice/PortAudio is not available ({exc}); install the "
                             "PortAudio library (e.g. apt install libportaudio2)") from exc
    try:
        devices = list_input_devices(sd)
    except Exception as exc:  # PortAudio without any host API
        raise NodeStartError(f"PortAudio cannot list devices: {exc}") from exc
    if not devices:
        raise NodeStartError("no microphone found: PortAudio reports no input device. Plug "
                             "one in, or play a file with the media_source node instead")
    dev = int(device) if device.strip().lstrip("-").isdigit() else (device or None)
    try:
        stream = sd.InputStream(device=dev, samplerate=sample_rate, channels=channels,
                                blocksize=chunk, dtype="float32", callback=callback)
    except Exception as exc:  # PortAudioError, ValueError for unknown names
        raise NodeStartError(f"cannot open microphone {device or 'default'!r} at {sample_rate} "
                             f"Hz, {channels} ch: {exc}. Input devices found: "
                             + "; ".join(devices)) from exc
    return stream


class AudioCaptureNode(ManagedNode):
    """Publishes microphone audio in fixed-size chunks (managed: opens the device on configure)."""

    NODE_NAME = "audio_capture"
    PARAMS = (
        ParamSpec("device", "", "input device index or name substring; empty: the default"),
        ParamSpec("sample_rate", AUDIO_SAMPLE_RATE, "capture sample rate in Hz"),
        ParamSpec("channels", 1, "number of channels"),
        ParamSpec("chunk_ms", 40.0, "chunk length in milliseconds"),
        ParamSpec("qos", "sensor_data", "publisher QoS: 'sensor_data' or 'reliable'"),
        ParamSpec("frame_id", "speaker_mic", "header.frame_id of the chunks"),
        AUTOSTART,
    )
    TOPICS = (
        TopicSpec("speaker/audio", "reactface_ros/msg/AudioChunk", "pub", "param:qos",
                  "float32 PCM chunks stamped with the capture time of their first sample"),
        DIAGNOSTICS_TOPIC,
    )

    def configure(self) -> None:
        """Open the microphone and create the publisher."""
        self.sample_rate = int(self.param("sample_rate"))
        self.channels = int(self.param("channels"))
        chunk = max(1, int(round(self.sample_rate * float(self.param("chunk_ms")) / 1e3)))
        self.pub = self.create_publisher(msg_class("reactface_ros/msg/AudioChunk"),
                                         "speaker/audio", qos_profile(str(self.param("qos"))))
        self.monitor = diag.StreamMonitor("audio_capture: microphone", 2.0)
        self._queue: queue.Queue = queue.Queue(maxsize=500)
        self._stop = threading.Event()
        self._thread = None
        self.stream = open_microphone(str(self.param("device")), self.sample_rate,
                                      self.channels, chunk, self._on_block)
        self.log_topics()

    def activate(self) -> None:
        """Start capturing and publishing."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._publish_loop, daemon=True)
        self._thread.start()
        self.stream.start()

    def deactivate(self) -> None:
        """Stop capturing (the device stays open); queued audio is dropped."""
        self.stream.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        while not self._queue.empty():
            self._queue.get_nowait()

    def _on_block(self, indata, frames, time_info, status) -> None:
        now_ns = time.time_ns()
        age = 0.0
        try:
            age = float(time_info.currentTime - time_info.inputBufferAdcTime)
        except AttributeError:
            pass
        if not 0.0 < age < 1.0:  # backend without ADC times
            age = frames / float(self.sample_rate)
        if status:
            self.monitor.gap()
            self.monitor.notes["last_status"] = str(status)
        try:
            self._queue.put_nowait((np.array(indata, np.float32), now_ns - int(age * 1e9)))
        except queue.Full:
            self.monitor.gap()

    def _publish_loop(self) -> None:
        frame_id = str(self.param("frame_id"))
        while not self._stop.is_set():
            try:
                samples, stamp_ns = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.pub.publish(audio_chunk_msg(samples, self.sample_rate, stamp_ns=stamp_ns,
                                             frame_id=frame_id))
            self.monitor.tick()

    def diagnostic_statuses(self) -> list:
        """Microphone health (rate, overflows)."""
        self.monitor.notes["sample_rate"] = str(self.sample_rate)
        return [self.monitor.status(self.get_name())]

    def release(self) -> None:
        """Close the microphone."""
        stream = getattr(self, "stream", None)
        if stream is not None:
            if getattr(self, "_thread", None) is not None:
                self.deactivate()
            stream.close()
            self.stream = None


def main(args: list[str] | None = None) -> int:
    """Run the audio_capture node."""
    return run_node(AudioCaptureNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
