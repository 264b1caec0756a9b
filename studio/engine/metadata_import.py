"""Generation settings read back out of any PNG: ours, AUTOMATIC1111's or ComfyUI's.

Metadata is untrusted input: a file from the web can hold anything. Only known fields are taken,
numbers are clamped to what the app accepts, text is cleaned of control characters, nothing a file
names (a model, a LoRA) is ever opened, and no exception escapes: whatever could not be used is
said in a few words in `not_restored`.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import IO, Any

from PIL import Image

from studio.engine.a1111_settings import settings_line
from studio.engine.metadata import PARAMETERS_KEY, REQUEST_KEY, png_text_chunks
from studio.engine.request import (
    CANVAS_STEP_PX,
    MAX_CANVAS_PX,
    MAX_INPAINT_PADDING_PX,
    MAX_MASK_FEATHER_PX,
    MAX_SEED,
    MIN_CANVAS_PX,
)
from studio.engine.schedulers import DISPLAY_NAMES, SCHEDULER_NAMES, normalise_scheduler_name

MAX_PROMPT_CHARS = 10_000
MAX_CHUNK_CHARS = 1_000_000  # Pillow's own cap on one text chunk: anything longer is not settings
COMFYUI_KEY = "prompt"  # ComfyUI's API-format graph; its "workflow" chunk is the editor's layout

# field -> (lowest, highest, whole number only)
_RANGES: dict[str, tuple[float, float, bool]] = {
    "seed": (0, MAX_SEED, True),
    "steps": (1, 1000, True),
    "guidance_scale": (0.0, 50.0, False),
    "strength": (0.01, 1.0, False),  # above 0: strength 0 would change nothing
    "width": (MIN_CANVAS_PX, MAX_CANVAS_PX, True),
    "height": (MIN_CANVAS_PX, MAX_CANVAS_PX, True),
    "mask_feather_px": (0, MAX_MASK_FEATHER_PX, True),
    "inpaint_padding_px": (0, MAX_INPAINT_PADDING_PX, True),
}
# How each field is named to the user, in the order a summary lists them.
_LABELS = {
    "prompt": "prompt", "negative_prompt": "negative prompt", "seed": "seed", "steps": "steps",
    "guidance_scale": "CFG", "scheduler": "sampler", "width": "width", "height": "height",
    "strength": "strength", "model": "model", "mask_feather_px": "mask blur",
    "inpaint_only_masked": "inpaint area", "inpaint_padding_px": "inpaint padding",
}
_COMFYUI_SAMPLERS = {"euler": "euler", "euler_ancestral": "euler a", "dpmpp_2m": "dpm++ 2m", "ddim": "ddim",
                     "ddpm": "ddpm", "lcm": "lcm"}
_A1111_NUMBERS = {"Steps": "steps", "CFG scale": "guidance_scale", "Seed": "seed",
                  "Denoising strength": "strength", "Mask blur": "mask_feather_px"}
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # all but \t and \n
_LORA_TAG = re.compile(r"<(?:lora|lyco):([^<>:]*)(?::[^<>]*)?>", re.IGNORECASE)


@dataclass(frozen=True)
class ImportedSettings:
    """What a PNG's metadata restores (`values`, named as GenerationRequest's fields, already checked
    and clamped), where it came from, and short phrases for what was left out or changed."""

    values: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # "Latent Studio", "AUTOMATIC1111", "ComfyUI"; "" when nothing was found
    not_restored: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the status bar."""
        notes = list(self.not_restored[:4]) + ([f"{len(self.not_restored) - 4} more"]
                                               if len(self.not_restored) > 4 else [])
        if not self.source:
            line = f"No generation settings restored: {', '.join(notes)}" if notes else \
                "This PNG carries no generation settings"
        else:
            sized = {"width": "size", "height": "size"}  # one word for the pair
            labels = list(dict.fromkeys(sized.get(name, label) for name, label in _LABELS.items()
                                        if name in self.values))
            restored = ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else "".join(labels)
            article = "an" if self.source[0] in "AEIOU" else "a"
            line = f"Restored {restored or 'nothing'} from {article} {self.source} PNG"
            line += f"; not restored: {', '.join(notes)}" if notes else ""
        return " ".join(line.split())  # one line, whatever the notes hold


def settings_from_png(source: Path | str | IO[bytes]) -> ImportedSettings:
    """The settings a PNG file (or open binary file) records; never raises."""
    try:
        with Image.open(source, formats=["PNG"]) as image:
            return settings_from_text_chunks(png_text_chunks(image))
    except FileNotFoundError:
        return ImportedSettings(not_restored=("the file was not found",))
    except Exception:  # untrusted bytes: whatever Pillow refuses, the answer is the same
        return ImportedSettings(not_restored=("not a readable PNG",))


def settings_from_png_bytes(data: bytes) -> ImportedSettings:
    return settings_from_png(io.BytesIO(data))


def settings_from_text_chunks(text: dict[str, str]) -> ImportedSettings:
    """Ours first (the whole request as JSON), else A1111's "parameters", else ComfyUI's graph."""
    try:
        return _read_chunks(text)
    except Exception as error:  # untrusted input: anything that slipped past the checks is a note
        return ImportedSettings(not_restored=(f"the settings could not be read ({type(error).__name__})",))


def _read_chunks(text: dict[str, str]) -> ImportedSettings:
    chunks = {key: value for key, value in text.items() if isinstance(key, str) and isinstance(value, str)}
    notes: list[str] = []
    readers = (("Latent Studio", REQUEST_KEY, _from_ours), ("AUTOMATIC1111", PARAMETERS_KEY, _from_a1111),
               ("ComfyUI", COMFYUI_KEY, _from_comfyui))
    for source, key, reader in readers:
        if key not in chunks:
            continue
        found = _Found()
        try:
            if len(chunks[key]) > MAX_CHUNK_CHARS:
                raise _Unreadable("too long")
            reader(chunks[key], found)
        except Exception as error:
            notes.append(f"{source} settings ({_reason(error)})")
            continue
        more = len(found.notes) - 20  # a file can list thousands of keys; a person reads a few
        notes += found.notes[:20] + ([f"{more} more settings"] if more > 0 else [])
        return ImportedSettings(found.values, source, tuple(notes))
    return ImportedSettings(not_restored=tuple(notes))


class _Unreadable(ValueError):
    """A chunk that is there but is not what its name promises; the message says how."""


def _reason(error: Exception) -> str:
    if isinstance(error, _Unreadable):
        return str(error)
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return "not valid JSON" if isinstance(error, ValueError) else f"unreadable: {type(error).__name__}"


def _shown(raw: Any) -> str:
    """A value from the file, made safe and short for a note on the status bar."""
    if isinstance(raw, bool) or raw is None:
        return str(raw).lower()
    if isinstance(raw, int):
        return str(raw) if raw.bit_length() <= 64 else "a huge number"
    if isinstance(raw, float):
        return f"{raw:g}"
    if isinstance(raw, list | dict):
        return "a link to another node" if _link(raw) is not None else f"a {type(raw).__name__}"
    text = " ".join(_CONTROL_CHARACTERS.sub("", str(raw)[:200]).split())
    return f"'{text[:40]}…'" if len(text) > 40 else f"'{text}'"


def _as_number(raw: Any) -> int | float | None:
    """bool, NaN, infinity and non-numbers are refused (None); numeric text is accepted."""
    if isinstance(raw, str) and len(raw) <= 40:
        for kind in (int, float):
            try:
                raw = kind(raw.strip())
                break
            except ValueError:
                continue
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return raw if isinstance(raw, int) or math.isfinite(raw) else None


class _Found:
    """The checked values of one chunk, and the notes on what was left out or changed."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.notes: list[str] = []

    def number(self, name: str, raw: Any) -> None:
        label, (lowest, highest, whole) = _LABELS[name], _RANGES[name]
        value = _as_number(raw)
        if value is None or (whole and value != int(value)):
            self.notes.append(f"{label} {_shown(raw)} (not a{' whole' if whole else ''} number)")
            return
        if name == "seed" and not lowest <= value <= highest:  # another seed is another picture
            self.notes.append(f"seed {_shown(value)} (outside 0..{MAX_SEED})")
            return
        kept = min(max(value, lowest), highest)
        if name in ("width", "height"):
            kept = kept // CANVAS_STEP_PX * CANVAS_STEP_PX
        kept = int(kept) if whole else float(kept)
        if kept != value:
            how = "clamped" if not lowest <= value <= highest else "rounded down"
            self.notes.append(f"{label} {_shown(value)} {how} to {kept if whole else f'{kept:g}'}")
        self.values[name] = kept

    def text(self, name: str, raw: Any) -> None:
        if not isinstance(raw, str):
            self.notes.append(f"{_LABELS[name]} (not text)")
            return
        cleaned = _CONTROL_CHARACTERS.sub("", raw)
        if len(cleaned) > MAX_PROMPT_CHARS:
            cleaned = cleaned[:MAX_PROMPT_CHARS]
            self.notes.append(f"{_LABELS[name]} cut to {MAX_PROMPT_CHARS:,} characters")
        self.values[name] = cleaned

    def sampler(self, raw: Any, schedule: Any = "", names: dict[str, str] | None = None) -> None:
        """`names`: the source's own sampler names -> ours; None: the display names A1111 and we use."""
        key = names.get(raw) if names is not None and isinstance(raw, str) else _our_sampler(raw)
        if key not in SCHEDULER_NAMES:
            self.notes.append(f"sampler {_shown(raw)} (unknown here)")
            return
        wanted = schedule.strip().lower() if isinstance(schedule, str) else "?"
        if wanted == "karras" and not key.endswith(" karras"):
            if f"{key} karras" in SCHEDULER_NAMES:
                key = f"{key} karras"
            else:
                self.notes.append(f"Karras schedule (none for {DISPLAY_NAMES[key]} here)")
        elif wanted not in ("", "automatic", "normal", "karras"):
            self.notes.append(f"schedule {_shown(schedule)} (unknown here)")
        self.values["scheduler"] = key


def _our_sampler(raw: Any) -> str | None:
    try:
        return normalise_scheduler_name(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _from_ours(chunk: str, found: _Found) -> None:
    described = json.loads(chunk)
    if not isinstance(described, dict):
        raise _Unreadable("not a JSON object")
    for name in ("prompt", "negative_prompt", "model"):
        if name in described:
            found.text(name, described[name])
    for name in _RANGES:
        if described.get(name) is not None:  # width and height None: the model's native size
            found.number(name, described[name])
    if "scheduler" in described:
        found.sampler(described["scheduler"])
    if isinstance(described.get("inpaint_only_masked"), bool):
        found.values["inpaint_only_masked"] = described["inpaint_only_masked"]
    elif "inpaint_only_masked" in described:
        found.notes.append(f"inpaint area {_shown(described['inpaint_only_masked'])} (not true or false)")
    loras = described.get("loras")
    for lora in loras if isinstance(loras, list) else []:  # never loaded from a path a file names
        path = lora.get("path") if isinstance(lora, dict) else None
        found.notes.append(f"LoRA {_shown(PureWindowsPath(path).stem if isinstance(path, str) else lora)}")
    if described.get("steers"):
        found.notes.append("changes made part-way through the run")


def _from_a1111(chunk: str, found: _Found) -> None:
    """A1111's layout: prompt lines, 'Negative prompt: ...' lines, then one 'Key: value, ...' line."""
    lines = chunk.replace("\r\n", "\n").strip().split("\n")
    settings = settings_line(lines[-1])
    if len(settings) >= 3:  # as A1111 decides: fewer, and the last line is still prompt
        lines.pop()
    else:
        settings = {}
    prompt: list[str] = []
    negative: list[str] | None = None
    for line in (line.strip() for line in lines):
        if negative is None and line.startswith("Negative prompt:"):
            negative = [line.removeprefix("Negative prompt:").strip()]
        else:
            (prompt if negative is None else negative).append(line)
    for name, parts in (("prompt", prompt), ("negative_prompt", negative)):
        if parts is not None:
            text = "\n".join(parts)
            for lora in _LORA_TAG.findall(text):
                found.notes.append(f"LoRA {_shown(lora)}")
            untagged = _LORA_TAG.sub("", text).split("\n")  # and the spaces a tag stood between
            found.text(name, "\n".join(" ".join(line.split()) for line in untagged).strip())
    hires = any(key.startswith("Hires") for key in settings)  # then "Denoising strength" is its pass's
    unused: dict[str, list[str]] = {}
    for key, value in settings.items():
        if key in _A1111_NUMBERS and not (hires and key == "Denoising strength"):
            found.number(_A1111_NUMBERS[key], value)
        elif key == "Size":
            width, _, height = value.partition("x")
            found.number("width", width)
            found.number("height", height)
        elif key == "Sampler":
            found.sampler(value, settings.get("Schedule type", ""))
        elif key == "Model":
            found.notes.append(f"model {_shown(value)} (pick it by hand)")
        elif key != "Schedule type" and key != "Version" and not key.endswith((" hash", " hashes")):
            in_hires = key.startswith("Hires") or key == "Denoising strength"
            group = "hires fix" if in_hires else key.split()[0]
            unused.setdefault(group.lower(), []).append(key.lower())
    for group, keys in unused.items():
        found.notes.append(f"{_shown(group)[1:-1]} settings" if len(keys) > 1 or group == "hires fix"
                           else _shown(keys[0])[1:-1])


def _link(value: Any) -> str | None:
    """The node id of a ComfyUI link [node_id, output_index]; None for a plain value."""
    is_link = isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int)
    return str(value[0]) if is_link and not isinstance(value[0], bool) else None


def _inputs(node: dict[str, Any]) -> dict[str, Any]:
    inputs = node.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def _from_comfyui(chunk: str, found: _Found) -> None:
    graph = json.loads(chunk)
    if not isinstance(graph, dict):
        raise _Unreadable("not a JSON object")
    nodes = {str(node_id): node for node_id, node in graph.items()
             if isinstance(node, dict) and isinstance(node.get("class_type"), str)}
    samplers = [node for node in nodes.values() if node["class_type"] in ("KSampler", "KSamplerAdvanced")]
    if not samplers:
        found.notes.append("ComfyUI graph without a KSampler")
        return
    if len(samplers) > 1:
        found.notes.append("the other samplers of the ComfyUI graph (the first one's settings)")
    inputs = _inputs(samplers[0])
    plain = {"seed": inputs.get("seed", inputs.get("noise_seed")), "steps": inputs.get("steps"),
             "guidance_scale": inputs.get("cfg"), "sampler_name": inputs.get("sampler_name")}
    denoise = inputs.get("denoise")
    if denoise is not None and not (_as_number(denoise) is not None and _as_number(denoise) >= 1):
        plain["strength"] = denoise  # below 1 the run started from a picture: image-to-image
    latent = nodes.get(_link(inputs.get("latent_image")) or "")
    if latent is not None and latent["class_type"] == "EmptyLatentImage":
        plain |= {"width": _inputs(latent).get("width"), "height": _inputs(latent).get("height")}
    elif latent is not None:
        found.notes.append(f"ComfyUI size (from a {_shown(latent['class_type'])} node)")
    for name, raw in plain.items():
        if _link(raw) is not None:
            found.notes.append(f"ComfyUI {_LABELS.get(name, 'sampler')} (from another node)")
        elif name == "sampler_name" and raw is not None:
            found.sampler(raw, inputs.get("scheduler", ""), _COMFYUI_SAMPLERS)
        elif raw is not None:
            found.number(name, raw)
    for name, input_name in (("prompt", "positive"), ("negative_prompt", "negative")):
        if input_name in inputs:
            _comfyui_prompt(nodes, inputs[input_name], input_name, name, found)
    for node in nodes.values():
        if isinstance(_inputs(node).get("ckpt_name"), str):
            found.notes.append(f"model {_shown(_inputs(node)['ckpt_name'])} (pick it by hand)")


def _comfyui_prompt(nodes: dict[str, Any], start: Any, input_name: str, name: str, found: _Found) -> None:
    """Follows a sampler's conditioning back to its CLIPTextEncode, through nodes that pass it on
    (ControlNet, set area ...): their input of the same name, else those named "conditioning..."."""
    texts, others, seen, queue = [], [], set(), [_link(start)]
    while queue and len(seen) < 200:
        node_id = queue.pop()
        if node_id is None or node_id in seen or node_id not in nodes:
            continue
        seen.add(node_id)
        node = nodes[node_id]
        inputs = _inputs(node)
        passed_on = [input_name] if input_name in inputs else [key for key in inputs if "conditioning" in key]
        links = [_link(inputs[key]) for key in passed_on if _link(inputs[key]) is not None]
        if node["class_type"] == "CLIPTextEncode":
            texts.append(inputs.get("text"))
        elif links:
            queue += links
        else:
            others.append(node["class_type"])
    label = f"ComfyUI {input_name} prompt"
    if others:
        found.notes.append(f"{label} (from a {_shown(others[0])} node)")
    elif len(texts) > 1:
        found.notes.append(f"{label} built from several text nodes")
    elif not texts:
        found.notes.append(f"{label} (its text node is missing)")
    elif not isinstance(texts[0], str):
        found.notes.append(f"{label} (its text comes from another node)")
    else:
        found.text(name, texts[0])
