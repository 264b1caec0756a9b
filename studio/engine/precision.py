"""Which number format a model runs in on this machine, chosen by measuring, never by assuming.

On a GPU the weights are half precision (fp16 by default). On a CPU the weights stay fp32 and "bf16"
means autocast of the UNet's matmuls and convolutions to bfloat16 with channels_last convolutions:
a large gain on processors with bf16 in hardware (Intel AMX, AVX512-BF16), a loss on small models
that are overhead-bound and on processors without it. So `auto` on a CPU times one guided UNet step
both ways at the model's own size and keeps the faster. The VAE decode runs reduced only when a
trial decode of a real picture comes within MIN_DECODE_PSNR_DB of fp32 and is faster.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from studio.engine.request import Precision

MIN_DECODE_PSNR_DB = 40.0
# bf16 must win by this much: a tie is not worth the rounding.
MIN_SPEEDUP = 1.05
_REDUCED = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}


@dataclass(frozen=True)
class PrecisionChoice:
    """What the engine runs with (never AUTO); `reason` is shown to the person."""

    unet: Precision
    decode: Precision
    reason: str
    on_cpu: bool = True

    @property
    def unet_autocast(self) -> torch.dtype | None:
        """CPU only: the dtype the UNet is autocast to (GPUs hold the weights in that dtype instead)."""
        return _REDUCED.get(self.unet) if self.on_cpu else None

    @property
    def vae_autocast(self) -> torch.dtype | None:
        return _REDUCED.get(self.decode) if self.on_cpu else None

    @property
    def describe(self) -> str:
        return f"UNet {self.unet.value}, VAE decode {self.decode.value} ({self.reason})"


def weights_dtype(asked: Precision, device: torch.device) -> torch.dtype:
    """The dtype the weights are loaded in: half on GPUs, always fp32 on a CPU (autocast reduces)."""
    if device.type == "cpu" or asked is Precision.FP32:
        return torch.float32
    if asked is Precision.BF16:
        return torch.bfloat16
    return torch.float16


def cpu_has_bf16_hardware() -> bool:
    """AMX or AVX512-BF16 as torch's CPU dispatch sees them, or bf16 as oneDNN sees it (works on Linux,
    Windows and macOS). The one probe for inference here and for training's compute trials."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    if any(getattr(torch.cpu, name, lambda: False)() for name in checks):
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def remembered_choice(
    source: str, asked_unet: Precision, asked_decode: Precision, device: torch.device, pipeline
) -> PrecisionChoice:
    """choose_precision, measured once per model, processor, torch version and thread count, and kept
    in the user's cache folder: a Stable Diffusion sized trial costs tens of seconds on a CPU, and the
    same model must run the same way (same pixels) in every process on this machine."""
    if device.type != "cpu" or Precision.AUTO not in (asked_unet, asked_decode):
        return choose_precision(asked_unet, asked_decode, device, pipeline)
    parameters = sum(parameter.numel() for parameter in pipeline.unet.parameters())
    key = " | ".join(
        (
            source,
            f"{parameters} UNet parameters",
            processor_name(),
            f"torch {torch.__version__}",
            f"{torch.get_num_threads()} threads",
            f"{asked_unet.value}/{asked_decode.value}",
        )
    )
    cache_file = precision_cache_file()
    try:
        known = json.loads(cache_file.read_text())
        if key in known:
            entry = known[key]
            return PrecisionChoice(Precision(entry["unet"]), Precision(entry["decode"]), entry["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        known = {}  # missing or unreadable: measure again and rewrite it
    choice = choose_precision(asked_unet, asked_decode, device, pipeline)
    known[key] = asdict(choice) | {"unet": choice.unet.value, "decode": choice.decode.value}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(known, indent=1))
        temporary.replace(cache_file)
    except OSError:
        pass  # an unwritable cache costs a trial at the next load, nothing else
    return choice


def precision_cache_file() -> Path:
    root = os.environ.get("STUDIO_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "latent-studio"
    )
    return Path(root) / "precision.json"


def processor_name() -> str:
    """The CPU's model name ("Intel(R) Xeon(R) Processor"), for caches and benchmark tables."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def choose_precision(
    asked_unet: Precision, asked_decode: Precision, device: torch.device, pipeline
) -> PrecisionChoice:
    """Resolve "auto" for the UNet and the VAE decode, each measured on its own: a small overhead-bound
    UNet can lose in bf16 while its convolution-heavy decoder gains."""
    if device.type != "cpu":
        dtype = weights_dtype(asked_unet, device)
        name = {torch.float16: Precision.FP16, torch.bfloat16: Precision.BF16}.get(dtype, Precision.FP32)
        return PrecisionChoice(name, name, f"{name.value} weights on {device.type}", on_cpu=False)
    hardware = cpu_has_bf16_hardware()
    reasons = []
    unet = asked_unet
    if asked_unet is Precision.AUTO:
        unet = Precision.FP32
        if not hardware:
            reasons.append("no bf16 in this processor (AMX, AVX512-BF16)")
        else:
            fp32_s = time_unet_step(pipeline, None)
            bf16_s = time_unet_step(pipeline, torch.bfloat16)
            unet = Precision.BF16 if fp32_s >= bf16_s * MIN_SPEEDUP else Precision.FP32
            reasons.append(f"UNet step {bf16_s * 1000:.0f} ms in bf16, {fp32_s * 1000:.0f} ms in fp32")
    decode = asked_decode
    if asked_decode is Precision.AUTO:
        decode = Precision.FP32
        reduced = unet if unet is not Precision.FP32 else Precision.BF16
        # fp32 asked for the UNet means fp32 wanted; without bf16 hardware a reduced decode only loses.
        if asked_unet is not Precision.FP32 and (hardware or unet is not Precision.FP32):
            psnr, gain = trial_decode(pipeline.vae, _REDUCED[reduced])
            if psnr >= MIN_DECODE_PSNR_DB and gain >= MIN_SPEEDUP:
                decode = reduced
            reasons.append(f"{reduced.value} decode {gain:.2f}x as fast at {psnr:.1f} dB of fp32")
    return PrecisionChoice(unet, decode, "; ".join(reasons) or "as asked")


def apply_memory_format(pipeline, choice: PrecisionChoice, tiny_preview=None) -> None:
    """channels_last is what makes oneDNN's bf16 convolutions fast; fp32 keeps the default layout, so
    that the same precision always gives the same pixels."""
    modules = [(pipeline.unet, choice.unet_autocast), (pipeline.vae, choice.vae_autocast)]
    if tiny_preview is not None:  # the previews' small decoder follows the VAE decode
        modules.append((tiny_preview.decoder, choice.vae_autocast))
    for module, autocast in modules:
        module.to(memory_format=torch.channels_last if autocast is not None else torch.contiguous_format)


@contextlib.contextmanager
def unet_autocast(unet: torch.nn.Module, dtype: torch.dtype | None) -> Iterator[None]:
    """Run only the UNet under CPU autocast, its output back in fp32.

    Written by hand because `torch.autocast` around the whole pipeline call (diffusers' own CPU advice)
    would also run the text encoder, the init-image encode and the guidance arithmetic in bf16; the
    UNet is where the time goes, so only it is reduced.
    """
    if dtype is None:
        yield
        return
    original_forward = unet.forward

    def forward(*args, **kwargs):
        with torch.autocast("cpu", dtype=dtype):
            output = original_forward(*args, **kwargs)
        if isinstance(output, tuple):
            return tuple(item.float() if torch.is_tensor(item) else item for item in output)
        output.sample = output.sample.float()
        return output

    unet.forward = forward
    try:
        yield
    finally:
        del unet.forward  # back to the class's forward


def decode_autocast(dtype: torch.dtype | None):
    return torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()


# -- the trials --------------------------------------------------------------------------------------


def _unet_inputs(unet) -> dict:
    """One guided step's inputs (batch 2: conditional and unconditional) at the model's own size."""
    config = unet.config
    size = config.sample_size
    height, width = (size, size) if isinstance(size, int) else size
    batch = 2
    inputs = {
        "sample": torch.randn(
            batch, config.in_channels, height, width, generator=torch.Generator().manual_seed(0)
        ),
        "timestep": torch.tensor(500),
        "encoder_hidden_states": torch.randn(batch, 77, config.cross_attention_dim),
        "return_dict": False,
    }
    if getattr(config, "addition_embed_type", None) == "text_time":  # SDXL's pooled text and size ids
        time_ids = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        inputs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(batch, time_ids),
            "time_ids": torch.tensor([[height * 8, width * 8, 0, 0, height * 8, width * 8]] * batch).float(),
        }
    return inputs


def time_unet_step(pipeline, dtype: torch.dtype | None) -> float:
    """Seconds for one guided UNet step, after a warm-up step (oneDNN builds its kernels on the first)."""
    unet = pipeline.unet
    unet.to(memory_format=torch.channels_last if dtype is not None else torch.contiguous_format)
    inputs = _unet_inputs(unet)
    with torch.inference_mode(), unet_autocast(unet, dtype):
        unet(**inputs)
        times = []
        while len(times) < 3:
            started = time.perf_counter()
            unet(**inputs)
            times.append(time.perf_counter() - started)
            if sum(times) > 2.0:  # big models: one timed step is enough
                break
    return min(times)


def trial_picture(size: int) -> np.ndarray:
    """A stand-in for a real picture: sky gradient, a disc, hills and texture, so decode errors show."""
    y, x = np.mgrid[0:size, 0:size] / size
    picture = np.stack([0.3 + 0.5 * y, 0.5 + 0.3 * y, 0.9 - 0.3 * y], axis=-1)
    sun = (x - 0.3) ** 2 + (y - 0.25) ** 2 < 0.01
    picture[sun] = (1.0, 0.85, 0.2)
    ground = y > 0.6 + 0.1 * np.sin(x * 12)
    picture[ground] = np.stack([0.2 + 0.1 * np.sin(x * 90), 0.55 + 0.1 * np.cos(y * 70), 0.2 + 0 * x], -1)[
        ground
    ]
    return (np.clip(picture, 0, 1) * 255).astype(np.uint8)


def trial_decode(vae, dtype: torch.dtype, size: int = 256) -> tuple[float, float]:
    """(PSNR of the reduced decode against the fp32 decode, fp32 time / reduced time) on a real latent."""
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    size = min(size, int(vae.config.sample_size)) // factor * factor
    pixels = torch.from_numpy(trial_picture(size)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    with torch.inference_mode():
        latent = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
        decoded = {}
        seconds = {}
        for key, autocast_dtype in (("fp32", None), ("reduced", dtype)):
            vae.to(memory_format=torch.channels_last if autocast_dtype else torch.contiguous_format)
            with decode_autocast(autocast_dtype):
                vae.decode(latent, return_dict=False)  # warm-up
                started = time.perf_counter()
                decoded[key] = vae.decode(latent, return_dict=False)[0].float().clamp(-1, 1)
                seconds[key] = time.perf_counter() - started
    if not torch.isfinite(decoded["reduced"]).all():
        return 0.0, seconds["fp32"] / seconds["reduced"]
    mse = float(((decoded["fp32"] - decoded["reduced"]) / 2).pow(2).mean())
    psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
    return float(psnr), seconds["fp32"] / seconds["reduced"]
