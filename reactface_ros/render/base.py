"""The renderer interface every listener-face style implements."""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from reactface_ros.render.validate import ClampReport, check_coefficients


@dataclass
class RenderConfig:
    """Options shared by every renderer style.

    Attributes
    ----------
    size : int
        Output width and height in pixels.
    background : tuple[int, int, int]
        RGB background colour.
    translation_scale : float
        Scale applied to the head translation's deviation from the reference position
        (1 follows the coefficients, 0 pins the head at the reference position).
    supersample : int
        Render at ``supersample`` times the size and shrink (anti-aliasing; 1 = off).
    """

    size: int = 256
    background: tuple[int, int, int] = (178, 182, 188)
    translation_scale: float = 1.0
    supersample: int = 1

    def __post_init__(self) -> None:
        """Check the option ranges."""
        if int(self.size) < 32 or int(self.size) > 4096:
            raise ValueError(f"size must be between 32 and 4096 pixels, got {self.size}")
        self.size = int(self.size)
        if len(self.background) != 3:
            raise ValueError(f"background must be an RGB triple, got {self.background}")
        if int(self.supersample) not in (1, 2, 3, 4):
            raise ValueError(f"supersample must be 1, 2, 3 or 4, got {self.supersample}")
        self.supersample = int(self.supersample)


class FaceRenderer(abc.ABC):
    """Turns listener coefficients into RGB images.

    Subclasses implement :meth:`_render_frame`; validation, sequences and resource handling
    live here so every style (mesh, screen face, a future neural renderer) behaves alike.
    """

    #: Short style name used by :func:`reactface_ros.render.make_renderer`.
    style: str = ""

    def __init__(self, config: RenderConfig) -> None:
        self.config = config
        #: What the last :meth:`render` / :meth:`render_sequence` call clamped.
        self.last_clamp = ClampReport()
        self.closed = False

    @property
    def size(self) -> int:
        """Output width and height in pixels."""
        return self.config.size

    def render(self, coeffs: np.ndarray) -> np.ndarray:
        """Render one frame.

        Parameters
        ----------
        coeffs : np.ndarray
            ``(58,)`` listener coefficients (52 blendshapes, rotation, translation).

        Returns
        -------
        np.ndarray
            ``(H, W, 3)`` uint8 RGB image.
        """
        self._check_open()
        frame, self.last_clamp = check_coefficients(coeffs)
        return self._render_frame(frame)

    def render_sequence(self, coeffs: np.ndarray) -> np.ndarray:
        """Render a sequence.

        Parameters
        ----------
        coeffs : np.ndarray
            ``(T, 58)`` listener coefficients.

        Returns
        -------
        np.ndarray
            ``(T, H, W, 3)`` uint8 RGB images.
        """
        self._check_open()
        frames, self.last_clamp = check_coefficients(coeffs, sequence=True)
        out = np.empty((len(frames), self.size, self.size, 3), dtype=np.uint8)
        for i, frame in enumerate(frames):
            out[i] = self._render_frame(frame)
        return out

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"this {self.style} renderer is closed; create a new one")

    @abc.abstractmethod
    def _render_frame(self, coeffs: np.ndarray) -> np.ndarray:
        """Render one validated ``(58,)`` float64 frame to ``(H, W, 3)`` uint8 RGB."""

    def close(self) -> None:
        """Release resources (GL contexts); the renderer is unusable afterwards.

        Subclasses that hold resources extend this and call ``super().close()``; closing twice
        is harmless.
        """
        self.closed = True

    def __enter__(self) -> "FaceRenderer":
        """Use as a context manager that closes the renderer."""
        return self

    def __exit__(self, *exc) -> None:
        """Close on leaving the ``with`` block."""
        self.close()
