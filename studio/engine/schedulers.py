"""The samplers a user can pick, by the names people know from the popular web UIs.

Names are plain data (the UI lists them without importing torch); `make_scheduler` builds the
diffusers scheduler from the model's own scheduler config, so the noise schedule stays the model's.
"""

from __future__ import annotations

from typing import Any

# name -> (diffusers class, config overrides)
_SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++ 2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpm++ 2m karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "lcm": ("LCMScheduler", {}),  # only meaningful for LCM-distilled weights
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(_SCHEDULERS)
DISPLAY_NAMES: dict[str, str] = {
    "ddim": "DDIM",
    "ddpm": "DDPM",
    "euler": "Euler",
    "euler a": "Euler a",
    "dpm++ 2m": "DPM++ 2M",
    "dpm++ 2m karras": "DPM++ 2M Karras",
    "lcm": "LCM",
}


def normalise_scheduler_name(name: str) -> str:
    """Accept 'DPM++ 2M Karras', 'dpm++_2m_karras', 'euler_a' ... and return the canonical key."""
    key = " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())
    key = key.replace("euler ancestral", "euler a").replace("dpmpp", "dpm++")
    if key not in _SCHEDULERS:
        known = ", ".join(DISPLAY_NAMES[n] for n in SCHEDULER_NAMES)
        raise ValueError(f"unknown scheduler '{name}'; choose one of: {known}")
    return key


def make_scheduler(name: str, model_scheduler_config: dict[str, Any]) -> Any:
    import diffusers  # deferred: keeps this module importable without torch

    class_name, overrides = _SCHEDULERS[normalise_scheduler_name(name)]
    scheduler_class = getattr(diffusers, class_name)
    return scheduler_class.from_config(model_scheduler_config, **overrides)
