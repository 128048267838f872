"""Loss logs: one CSV file per run, plus TensorBoard when ``torch.utils.tensorboard`` works."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

#: Columns of ``log.csv``; loss terms follow the names of ``reactface_loss``.
LOG_COLUMNS = ("split", "epoch", "step", "lr", "total", "rec_listener", "rec_speaker", "kl",
               "smooth", "diversity", "teacher_forced", "seconds")


class TrainingLogger:
    """Append rows to ``<run>/log.csv`` (and TensorBoard scalars when available).

    Parameters
    ----------
    run_dir : Path
        Run folder.
    tensorboard : bool
        Try to log to ``<run>/tensorboard`` as well.
    append : bool
        Keep existing rows (resume) instead of starting a new file.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = True, append: bool = False) -> None:
        self.path = Path(run_dir) / "log.csv"
        new = not (append and self.path.exists())
        self._file = open(self.path, "w" if new else "a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._file, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        self.tensorboard = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(str(Path(run_dir) / "tensorboard"))
            except Exception:  # tensorboard not installed or broken: CSV only
                self.tensorboard = None

    def log(self, row: dict[str, Any]) -> None:
        """Write one row (missing columns stay empty)."""
        self._csv.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v)
                            for k, v in row.items()})
        self._file.flush()
        if self.tensorboard is not None:
            for key, value in row.items():
                if key not in ("split", "epoch", "step") and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(f"{row['split']}/{key}", value, row["step"])

    def close(self) -> None:
        """Close the files."""
        self._file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_log(path: str | Path) -> list[dict[str, str]]:
    """Rows of a ``log.csv`` as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
