"""Head-pose convention helpers: round trips and the frontal pose."""
import numpy as np

from reactface_ros.geometry import (FRONTAL_ROTATION, euler_to_matrix, matrix_to_euler,
                                    matrix_to_quaternion)


def test_euler_round_trip():
    rng = np.random.default_rng(0)
    angles = np.stack([rng.uniform(0.5, 5.5, 200), rng.uniform(-1.2, 1.2, 200),
                       rng.uniform(-2.5, 2.5, 200)], axis=1)
    back = matrix_to_euler(euler_to_matrix(angles))
    np.testing.assert_allclose(back, angles, atol=1e-9)


def test_matrices_are_rotations():
    m = euler_to_matrix(np.array([[0.3, -0.7, 1.1], [np.pi, 0.0, 0.0]]))
    for r in m:
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(r), 1.0)


def test_frontal_face_looks_at_camera():
    r = euler_to_matrix(FRONTAL_ROTATION)
    # model up (+y) maps to image up (camera -y); model +z (toward viewer) to camera -z.
    np.testing.assert_allclose(r @ [0, 1, 0], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(r @ [0, 0, 1], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(matrix_to_euler(r), FRONTAL_ROTATION, atol=1e-12)


def test_quaternion_matches_matrix():
    rng = np.random.default_rng(1)
    angles = rng.uniform(-3, 3, (50, 3))
    mats = euler_to_matrix(angles)
    q = matrix_to_quaternion(mats)
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    rebuilt = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)
    np.testing.assert_allclose(rebuilt, mats, atol=1e-9)
