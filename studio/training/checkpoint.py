"""Resumable training state in a work folder beside the output folder.

Each stage saves its models, optimizer, step, losses and random-generator state every few minutes
(written to a temporary file, then renamed, so a kill mid-save leaves the previous checkpoint intact);
`state.json` records which stage is running and how many seconds each stage has used.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "state.json"


def work_folder_for(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}.work"


class RunState:
    """What survives a restart: finished stages, seconds spent per stage, and the run's identity."""

    def __init__(self, folder: Path, identity: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.identity = json.loads(json.dumps(identity))  # tuples become lists, as they read back
        self.finished: list[str] = []
        self.seconds: dict[str, float] = {}
        self.notes: dict[str, Any] = {}

    @classmethod
    def open(cls, folder: Path, identity: dict[str, Any], resume: bool) -> RunState:
        """The saved state when `resume` and it is the same run (config and seed), else a fresh one."""
        state = cls(folder, identity)
        path = Path(folder) / STATE_FILE
        if resume and path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("identity") == state.identity:
                state.finished = list(saved.get("finished", []))
                state.seconds = {k: float(v) for k, v in saved.get("seconds", {}).items()}
                state.notes = dict(saved.get("notes", {}))
                return state
        # A fresh run: checkpoints of another run (other config or seed) must not leak into this one.
        # Asked to start over (resume False), they go; otherwise they move aside rather than away,
        # since hours of training may be in them.
        if state.folder.is_dir() and not resume:
            shutil.rmtree(state.folder)
        elif state.folder.is_dir():
            aside = state.folder.with_name(f"{state.folder.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.move(state.folder, aside)
            print(f"{state.folder} held another run (other settings or seed); moved to {aside}", flush=True)
        return state

    @property
    def resumed(self) -> bool:
        return bool(self.seconds)

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {
            "identity": self.identity,
            "finished": self.finished,
            "seconds": self.seconds,
            "notes": self.notes,
        }
        _atomic_write_text(self.folder / STATE_FILE, json.dumps(data, indent=2) + "\n")

    def finish(self, stage: str) -> None:
        if stage not in self.finished:
            self.finished.append(stage)
        self.save()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    path = Path(path)
    if not path.is_file():
        return None
    # Our own files, but weights_only keeps a tampered work folder from running code.
    return torch.load(path, map_location="cpu", weights_only=True)


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
