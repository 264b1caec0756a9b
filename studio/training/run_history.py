"""`training_runs.json` in the model folder: every training run of the shipped model, and its evaluation.

The model card's table of runs is drawn from it, and `train --continue` reads it for the next seed and
for the shipped model's evaluation (so the shipped model is evaluated once, not before every run).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HISTORY_FILE = "training_runs.json"
# The attributes that have a >= 95% target (clouds are reported but have none).
TARGET_ATTRIBUTES = ("time", "body", "body_pos", "mountains", "ground", "trees")
# Continuation seeds start far from the seeds the first run and the evaluation use.
FIRST_CONTINUATION_SEED = 1001


def evaluation_score(evaluation: dict[str, Any]) -> float:
    """Mean accuracy over the target attributes: one number that says whether a run helped."""
    accuracy = evaluation["accuracy"]
    return sum(accuracy[key] for key in TARGET_ATTRIBUTES) / len(TARGET_ATTRIBUTES)


@dataclass
class RunHistory:
    runs: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None  # of the shipped weights, as they are now

    @classmethod
    def load(cls, folder: Path) -> RunHistory:
        path = Path(folder) / HISTORY_FILE
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        return cls(list(data.get("runs", [])), data.get("evaluation"))

    def save(self, folder: Path) -> None:
        data = {"runs": self.runs, "evaluation": self.evaluation}
        path = Path(folder) / HISTORY_FILE
        temporary = path.with_suffix(".json.tmp")  # written whole, then renamed: never half a history
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(temporary, path)

    def seeds(self) -> set[int]:
        return {run["seed"] for run in self.runs if "seed" in run}

    def next_seed(self) -> int:
        """A seed no earlier run used: each run trains on renders no other run saw."""
        used = self.seeds()
        seed = FIRST_CONTINUATION_SEED
        while seed in used:
            seed += 1
        return seed

    def add(self, record: dict[str, Any]) -> None:
        self.runs.append(record)

    def table(self) -> str:
        lines = [
            "| date | part | machine | minutes | steps | steps/s | seed | result | shipped |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for run in self.runs:
            lines.append(
                f"| {run['date']} | {run['part']} | {run['machine']} | {run['minutes']} | {run['steps']} "
                f"| {run.get('steps_per_second', '-')} | {run['seed']} | {run['result']} "
                f"| {'yes' if run['shipped'] else 'no'} |"
            )
        return "\n".join(lines)
