"""Flat "screen face": a stylised 2-D face of the kind a social robot shows on its display.

Driven by the same 58 coefficients as the 3-D face. Features follow the ARKit meaning of the
weights (the subject's left is the picture's right, as for the mesh face): eyes open and
close with blink/squint/wide, pupils follow the eyeLook shapes, brow ends follow the brow
shapes, the mouth's corners, width and opening follow smile/frown, stretch/pucker/funnel and
jaw/lip shapes. Head rotation shifts and rolls the features, translation moves and scales them.
"""
from __future__ import annotations

import cv2
import numpy as np

from reactface_ros.constants import BLENDSHAPE_INDEX, ROTATION_SLICE, TRANSLATION_SLICE
from reactface_ros.render.base import FaceRenderer, RenderConfig
from reactface_ros.render.rig import REFERENCE_TRANSLATION

#: Display colours (RGB).
SCREEN_BACKGROUND = (18, 22, 30)
FEATURE = (120, 225, 255)
PUPIL = (18, 22, 30)
MOUTH_INSIDE = (60, 20, 40)
TONGUE = (235, 120, 140)
BLUSH = (255, 110, 150)
#: Sub-pixel bits for OpenCV drawing.
_SHIFT = 4


class ScreenFaceRenderer(FaceRenderer):
    """The flat display face (``style="screen"``).

    Parameters
    ----------
    config : RenderConfig
        Image size and translation handling. The display background is dark; ``config``'s
        background is not used.
    """

    style = "screen"

    def __init__(self, config: RenderConfig) -> None:
        super().__init__(config)
        self.backend = "opencv"

    def _render_frame(self, coeffs: np.ndarray) -> np.ndarray:
        s = float(self.size)
        w = {name: float(coeffs[i]) for name, i in BLENDSHAPE_INDEX.items()}
        rx, ry, rz = coeffs[ROTATION_SLICE]
        pitch = float(np.angle(np.exp(1j * (rx - np.pi))))
        t = REFERENCE_TRANSLATION + self.config.translation_scale * (
            coeffs[TRANSLATION_SLICE] - REFERENCE_TRANSLATION)
        scale = REFERENCE_TRANSLATION[2] / t[2]
        # Same directions as the mesh camera: +yaw turns the face to the picture's left,
        # +pitch looks down, +roll turns clockwise on screen.
        offset = np.array([-np.sin(ry) * 0.3 * s + 0.54 * s * (t[0] - REFERENCE_TRANSLATION[0]),
                           np.sin(pitch) * 0.3 * s + 0.54 * s * (t[1] - REFERENCE_TRANSLATION[1])])
        c, sn = np.cos(rz), np.sin(rz)
        centre = np.array([s / 2, s / 2]) + offset
        squash = np.cos(ry)

        def place(points: np.ndarray) -> np.ndarray:
            p = np.asarray(points, dtype=np.float64).reshape(-1, 2) * scale
            p[:, 0] *= squash
            p = p @ np.array([[c, sn], [-sn, c]])
            return p + centre

        def fixed(points: np.ndarray) -> np.ndarray:
            return np.rint(points * (1 << _SHIFT)).astype(np.int32)

        img = np.empty((self.size, self.size, 3), dtype=np.uint8)
        img[:] = SCREEN_BACKGROUND
        lw = max(1, int(round(0.022 * s * scale)))

        blush = np.clip(0.5 * (w["cheekSquintLeft"] + w["cheekSquintRight"])
                        + 0.35 * (w["mouthSmileLeft"] + w["mouthSmileRight"])
                        + 0.6 * w["cheekPuff"], 0.0, 1.0)
        if blush > 0.02:
            layer = img.copy()
            for side in (-1, 1):
                pc = place([side * 0.28 * s, 0.1 * s])[0]
                radius = int(round((0.07 + 0.03 * w["cheekPuff"]) * s * scale * (1 << _SHIFT)))
                cv2.circle(layer, tuple(fixed(pc)), radius, BLUSH, -1, cv2.LINE_AA, _SHIFT)
            img = cv2.addWeighted(layer, 0.55 * blush, img, 1 - 0.55 * blush, 0)

        for side, name in ((1, "Left"), (-1, "Right")):
            # The subject's left eye is on the picture's right (+x).
            ex, ey = side * 0.19 * s, -0.1 * s
            openness = np.clip(1.0 - w[f"eyeBlink{name}"] - 0.45 * w[f"eyeSquint{name}"]
                               - 0.25 * w[f"cheekSquint{name}"] + 0.45 * w[f"eyeWide{name}"],
                               0.0, 1.45)
            rx_e, ry_e = 0.085 * s, 0.095 * s * openness
            if openness > 0.12:
                a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
                eye = place(np.stack([ex + rx_e * np.cos(a), ey + ry_e * np.sin(a)], 1))
                cv2.fillPoly(img, [fixed(eye)], FEATURE, cv2.LINE_AA, _SHIFT)
                gx = side * (w[f"eyeLookOut{name}"] - w[f"eyeLookIn{name}"])
                gy = w[f"eyeLookDown{name}"] - w[f"eyeLookUp{name}"]
                pr = 0.042 * s
                px = ex + gx * (rx_e - pr) * 0.8
                py = ey + gy * max(ry_e - pr, 0.0) * 0.8
                b = np.linspace(0, 2 * np.pi, 24, endpoint=False)
                pr_y = min(pr, ry_e * 0.9)
                pupil = place(np.stack([px + pr * np.cos(b), py + pr_y * np.sin(b)], 1))
                cv2.fillPoly(img, [fixed(pupil)], PUPIL, cv2.LINE_AA, _SHIFT)
            else:
                xs = np.linspace(-rx_e, rx_e, 16)
                lid = place(np.stack([ex + xs, ey + 0.02 * s * (1 - (xs / rx_e) ** 2)], 1))
                cv2.polylines(img, [fixed(lid)], False, FEATURE, lw, cv2.LINE_AA, _SHIFT)

            down = w[f"browDown{name}"]
            inner_y = ey - 0.17 * s - 0.07 * s * w["browInnerUp"] + 0.05 * s * down
            outer_y = ey - 0.17 * s - 0.07 * s * w[f"browOuterUp{name}"] + 0.025 * s * down
            inner_x = side * (0.09 - 0.02 * down) * s
            outer_x = side * 0.29 * s
            brow = place([[inner_x, inner_y], [0.5 * (inner_x + outer_x),
                                               0.5 * (inner_y + outer_y) - 0.015 * s],
                          [outer_x, outer_y]])
            cv2.polylines(img, [fixed(brow)], False, FEATURE, lw + 1, cv2.LINE_AA, _SHIFT)

        self._draw_mouth(img, w, s, place, fixed, lw)
        return img

    @staticmethod
    def _draw_mouth(img, w, s, place, fixed, lw) -> None:
        smile = {n: w[f"mouthSmile{n}"] for n in ("Left", "Right")}
        frown = {n: w[f"mouthFrown{n}"] for n in ("Left", "Right")}
        stretch = 0.5 * (w["mouthStretchLeft"] + w["mouthStretchRight"])
        half = 0.11 * s * (1 + 0.35 * stretch + 0.15 * (smile["Left"] + smile["Right"])
                           - 0.45 * w["mouthPucker"] - 0.3 * w["mouthFunnel"])
        mx = s * (0.06 * (w["mouthLeft"] - w["mouthRight"])
                  + 0.04 * (w["jawLeft"] - w["jawRight"]))
        my = 0.22 * s + 0.03 * s * w["jawOpen"] - 0.02 * s * w["mouthShrugLower"]
        corner_y = {n: my - 0.06 * s * smile[n] + 0.05 * s * frown[n] for n in smile}
        lower_down = 0.5 * (w["mouthLowerDownLeft"] + w["mouthLowerDownRight"])
        upper_up = 0.5 * (w["mouthUpperUpLeft"] + w["mouthUpperUpRight"])
        opening = (0.16 * w["jawOpen"] * (1 - w["mouthClose"]) + 0.04 * lower_down
                   + 0.03 * upper_up + 0.06 * w["mouthFunnel"] + 0.05 * w["tongueOut"]) * s
        bend = 0.03 * s * (smile["Left"] + smile["Right"] - frown["Left"] - frown["Right"]) / 2
        left = np.array([mx + half, corner_y["Left"]])
        right = np.array([mx - half, corner_y["Right"]])
        ts = np.linspace(0.0, 1.0, 24)[:, None]

        def curve(mid: np.ndarray) -> np.ndarray:
            return (1 - ts) ** 2 * right + 2 * ts * (1 - ts) * mid + ts ** 2 * left

        mid_y = 0.5 * (left[1] + right[1])
        upper = curve(np.array([mx, mid_y + bend - 0.35 * opening]))
        lower = curve(np.array([mx, mid_y + bend + 0.65 * opening + 0.03 * s * lower_down]))
        if opening > 0.012 * s:
            poly = place(np.concatenate([upper, lower[::-1]]))
            cv2.fillPoly(img, [fixed(poly)], MOUTH_INSIDE, cv2.LINE_AA, _SHIFT)
            if w["tongueOut"] > 0.1:
                tongue = lower[12] + [0, -0.02 * s]
                tc = place([tongue])[0]
                axes = (int(0.05 * s * (1 << _SHIFT)), int(0.035 * s * w["tongueOut"] * 16) + 16)
                cv2.ellipse(img, tuple(fixed(tc)), axes, 0, 0, 360, TONGUE, -1, cv2.LINE_AA,
                            _SHIFT)
            cv2.polylines(img, [fixed(poly)], True, FEATURE, lw, cv2.LINE_AA, _SHIFT)
        else:
            cv2.polylines(img, [fixed(place(upper))], False, FEATURE, lw + 1, cv2.LINE_AA, _SHIFT)
