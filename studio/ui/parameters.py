"""What to generate, apart from the canvas and the seed: prompt, sampler settings, size, model."""

from __future__ import annotations

from enum import Enum, StrEnum
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from studio.engine.request import (
    CANVAS_STEP_PX,
    DEFAULT_MODEL,
    MAX_CANVAS_PX,
    MAX_INPAINT_PADDING_PX,
    MIN_CANVAS_PX,
    Precision,
    PreviewKind,
    Resolution,
)
from studio.engine.resolution import DEFAULT_REFINE_STRENGTH
from studio.engine.schedulers import DISPLAY_NAMES, SCHEDULER_NAMES
from studio.ui.lora_list import LoraList
from studio.ui.observable import Observable

PREVIEW_LABELS = {
    PreviewKind.NOISY_LATENT: "Noisy image (x_t)",
    PreviewKind.PREDICTED_CLEAN: "Predicted image (x0)",
    PreviewKind.OFF: "Off",
}
PRECISION_LABELS = {
    Precision.AUTO: "Auto (measured on this machine)",
    Precision.FP32: "fp32 (exact, slowest)",
    Precision.BF16: "bf16",
    Precision.FP16: "fp16",
}
RESOLUTION_LABELS = {
    Resolution.NATIVE: "Model's own, scaled to the canvas",
    Resolution.EXACT: "Exact canvas size",
}


class RefineChoice(StrEnum):
    AUTO = "auto"  # the engine decides: SD-class models, up to 2x their native size
    OFF = "off"
    ON = "on"  # at refine_strength


REFINE_LABELS = {
    RefineChoice.AUTO: "Auto (SD models, up to 2×)",
    RefineChoice.OFF: "Off",
    RefineChoice.ON: "On, strength",
}
EMBEDDED_MODEL_LABEL = "Embedded: Landscapes"
MIN_SIZE, MAX_SIZE, SIZE_STEP = MIN_CANVAS_PX, MAX_CANVAS_PX, CANVAS_STEP_PX
MAX_RECENT_MODELS = 7


class GenerationParameters(QObject):
    """Everything a run needs besides the canvas and the seed; persisted between launches."""

    prompt_changed = Signal(str)
    negative_prompt_changed = Signal(str)
    steps_changed = Signal(int)
    guidance_scale_changed = Signal(float)
    scheduler_changed = Signal(str)
    width_changed = Signal(int)
    height_changed = Signal(int)
    size_chosen_changed = Signal(bool)
    resolution_changed = Signal(str)
    refine_changed = Signal(str)
    refine_strength_changed = Signal(float)
    strength_changed = Signal(float)
    batch_count_changed = Signal(int)
    preview_kind_changed = Signal(str)
    model_changed = Signal(str)
    precision_changed = Signal(str)
    loras_changed = Signal(str)
    tiny_decoder_changed = Signal(str)
    use_canvas_as_init_changed = Signal(bool)
    live_painting_changed = Signal(bool)
    live_steps_changed = Signal(int)
    inpaint_only_masked_changed = Signal(bool)
    inpaint_padding_px_changed = Signal(int)
    recent_models_changed = Signal(str)
    checkpoint_config_changed = Signal(str)

    prompt = Observable("a sunny day with green grass and the sun on the left")
    negative_prompt = Observable("")
    steps = Observable(20)
    guidance_scale = Observable(7.5)
    scheduler = Observable("dpm++ 2m")
    width = Observable(512)  # the canvas size: the output size of a run
    height = Observable(512)
    size_chosen = Observable(False)  # the person set the size: a model's native size no longer replaces it
    resolution = Observable(Resolution.NATIVE.value)  # the model runs at its own size, scaled to the canvas
    refine = Observable(RefineChoice.AUTO.value)
    refine_strength = Observable(DEFAULT_REFINE_STRENGTH)  # when refine is "on"
    strength = Observable(0.75)
    batch_count = Observable(1)
    preview_kind = Observable(PreviewKind.NOISY_LATENT.value)
    model = Observable(DEFAULT_MODEL)
    precision = Observable(Precision.AUTO.value)  # of the UNet and the VAE decode
    loras = Observable("")  # one "WEIGHT<TAB>PATH" line per LoRA file
    tiny_decoder = Observable("")  # an AutoencoderTiny (TAESD) folder for previews; "" = model's own or cache
    use_canvas_as_init = Observable(False)
    live_painting = Observable(False)
    live_steps = Observable(4)
    inpaint_only_masked = Observable(True)  # crop around the mask, generate at the model's size, paste back
    inpaint_padding_px = Observable(32)
    recent_models = Observable("")  # model sources used before, one per line, newest first
    # A diffusers folder of the model family that gives single-file checkpoints their config
    # (unet/config.json, the scheduler, the tokenizer ...); "": look in the Hugging Face cache.
    checkpoint_config = Observable("")


def describe_model(source: str) -> str:
    return EMBEDDED_MODEL_LABEL if source == DEFAULT_MODEL else source


class ModelPicker(QComboBox):
    """Embedded default, recently used sources, and entries that ask for a folder, a file or a hub id."""

    _PICK_FOLDER, _PICK_FILE, _PICK_HUB, _PICK_CONFIG = "\x00folder", "\x00file", "\x00hub", "\x00config"

    def __init__(self, parameters: GenerationParameters, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parameters = parameters
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(14)
        recent = [line for line in parameters.recent_models.splitlines() if line]
        self._sources: list[str] = [DEFAULT_MODEL, *recent[:MAX_RECENT_MODELS]]
        self._show_model(parameters.model)
        self.activated.connect(self._activated)
        parameters.model_changed.connect(self._show_model)
        parameters.checkpoint_config_changed.connect(lambda _folder: self._rebuild())

    def _rebuild(self) -> None:
        self.blockSignals(True)
        self.clear()
        for source in self._sources:
            self.addItem(describe_model(source), source)
            tooltip = source or "the model shipped with the app"
            self.setItemData(self.count() - 1, tooltip, Qt.ItemDataRole.ToolTipRole)
        self.insertSeparator(self.count())
        self.addItem("Open model folder…", self._PICK_FOLDER)
        self.addItem("Open model file (.safetensors, .ckpt)…", self._PICK_FILE)
        self.addItem("Hugging Face hub id…", self._PICK_HUB)
        config = self.parameters.checkpoint_config
        self.addItem(f"Config for model files: {Path(config).name if config else 'from the cache'}…",
                     self._PICK_CONFIG)
        self.setItemData(self.count() - 1, "A .safetensors checkpoint holds weights only; its model family's "
                         "diffusers folder (e.g. Stable Diffusion 1.5) gives it the rest. Chosen once, "
                         "remembered.", Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(max(0, self.findData(self.parameters.model)))
        self.blockSignals(False)

    def _show_model(self, source: str) -> None:
        if source not in self._sources:
            self._sources.insert(1, source)
            del self._sources[1 + MAX_RECENT_MODELS :]
            self.parameters.recent_models = "\n".join(self._sources[1:])
        self._rebuild()

    def _activated(self, index: int) -> None:
        choice = self.itemData(index)
        source: str | None = choice
        if choice == self._PICK_FOLDER:
            folder = QFileDialog.getExistingDirectory(self, "Stable Diffusion model folder (diffusers)")
            source = folder or None
        elif choice == self._PICK_FILE:
            source = QFileDialog.getOpenFileName(
                self, "Stable Diffusion checkpoint", "", "Checkpoints (*.safetensors *.ckpt)"
            )[0] or None
        elif choice == self._PICK_CONFIG:
            self.choose_checkpoint_config()
            source = None
        elif choice == self._PICK_HUB:
            text, accepted = QInputDialog.getText(self, "Hub model", "Hugging Face model id:")
            source = text.strip() if accepted and text.strip() else None
        if source is None:
            self.setCurrentIndex(max(0, self.findData(self.parameters.model)))
            return
        self.parameters.model = source

    def choose_checkpoint_config(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Config folder for model files: a diffusers folder of the same family (model_index.json)"
        )
        if folder:
            self.parameters.checkpoint_config = folder


class ParametersPanel(QWidget):
    """Binds spin boxes, combos and sliders to GenerationParameters, both ways."""

    def __init__(self, parameters: GenerationParameters, parent: QWidget | None = None) -> None:
        """One form row per setting, in the order the panel shows them, each bound to its observable
        where it is made: long, but a flat list of rows with no branches to follow."""
        super().__init__(parent)
        self.parameters = parameters
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)

        self.model_picker = ModelPicker(parameters)
        form.addRow("Model", self.model_picker)

        self.steps_spin = QSpinBox(minimum=1, maximum=200)
        self._bind_spin(self.steps_spin, "steps")
        form.addRow("Steps", self.steps_spin)

        self.guidance_spin = QDoubleSpinBox(minimum=0.0, maximum=30.0, singleStep=0.5, decimals=1)
        self._bind_spin(self.guidance_spin, "guidance_scale")
        form.addRow("Guidance", self.guidance_spin)

        self.scheduler_combo = QComboBox()
        for name in SCHEDULER_NAMES:
            self.scheduler_combo.addItem(DISPLAY_NAMES[name], name)
        self._bind_combo(self.scheduler_combo, "scheduler")
        form.addRow("Sampler", self.scheduler_combo)
        self.lora_list = LoraList(parameters)
        form.addRow("LoRAs", self.lora_list)

        self.width_spin = QSpinBox(minimum=MIN_SIZE, maximum=MAX_SIZE, singleStep=SIZE_STEP, suffix=" px")
        self.height_spin = QSpinBox(minimum=MIN_SIZE, maximum=MAX_SIZE, singleStep=SIZE_STEP, suffix=" px")
        for spin in (self.width_spin, self.height_spin):
            spin.setKeyboardTracking(False)  # one resize when typing ends, not one per digit
        self._bind_spin(self.width_spin, "width")
        self._bind_spin(self.height_spin, "height")
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)
        form.addRow("Size", size_row)

        self.resolution_combo = self._choice_combo(RESOLUTION_LABELS, "resolution")
        self.resolution_combo.setToolTip(
            "Models draw well only near the size they were trained at. \"Model's own\" runs at the model's "
            "pixel count in the canvas's shape and scales the result to the canvas; \"Exact\" runs at the "
            "canvas size itself."
        )
        form.addRow("Resolution", self.resolution_combo)
        self.refine_combo = self._choice_combo(REFINE_LABELS, "refine")
        self.refine_combo.setToolTip(
            "After scaling up, redraw the picture at the canvas size with a low strength "
            "(the \"hires fix\"): sharper detail, for one more partial run"
        )
        self.refine_spin = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05, decimals=2)
        self._bind_spin(self.refine_spin, "refine_strength")
        self.refine_spin.setEnabled(parameters.refine == RefineChoice.ON)
        parameters.refine_changed.connect(
            lambda choice: self.refine_spin.setEnabled(choice == RefineChoice.ON)
        )
        refine_row = QHBoxLayout()
        refine_row.addWidget(self.refine_combo, 1)
        refine_row.addWidget(self.refine_spin)
        form.addRow("Refine", refine_row)

        self.use_canvas_check = QCheckBox("Use canvas as init image (sketch to image)")
        self._bind_check(self.use_canvas_check, "use_canvas_as_init")
        form.addRow(self.use_canvas_check)

        self.strength_slider = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=100)
        self.strength_label = QLabel()
        self.strength_label.setMinimumWidth(32)
        self.strength_slider.valueChanged.connect(lambda value: setattr(parameters, "strength", value / 100))
        parameters.strength_changed.connect(self._show_strength)
        self._show_strength(parameters.strength)
        self.strength_slider.setToolTip("How far the result may depart from the canvas (1 = from noise)")
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength_label)
        form.addRow("Strength", strength_row)

        self.batch_spin = QSpinBox(minimum=1, maximum=16)
        self._bind_spin(self.batch_spin, "batch_count")
        form.addRow("Batch count", self.batch_spin)

        self.preview_combo = self._choice_combo(PREVIEW_LABELS, "preview_kind")
        form.addRow("Preview", self.preview_combo)

        self.precision_combo = self._choice_combo(PRECISION_LABELS, "precision")
        self.precision_combo.setToolTip(
            "Auto: fp16 on a GPU; on a CPU, bf16 where the processor has it in hardware and a timed step "
            "shows it faster (measured once per model), else fp32. The status bar says what was chosen."
        )
        form.addRow("Precision", self.precision_combo)

        self.tiny_decoder_button = QPushButton()
        self.tiny_decoder_button.setToolTip(
            "A tiny autoencoder folder (TAESD, TAESDXL) for true-colour previews of models that ship none. "
            "Without one: TAESD from the local Hugging Face cache if it is there, else linear previews."
        )
        self.tiny_decoder_button.clicked.connect(self._choose_tiny_decoder)
        parameters.tiny_decoder_changed.connect(self._show_tiny_decoder)
        self._show_tiny_decoder(parameters.tiny_decoder)
        form.addRow("Preview decoder", self.tiny_decoder_button)

        self.only_masked_check = QCheckBox("Inpaint only the masked area, at the model's size")
        self.only_masked_check.setToolTip(
            "Crop around the mask (plus padding), generate there at full model resolution, paste back"
        )
        self._bind_check(self.only_masked_check, "inpaint_only_masked")
        self.padding_spin = QSpinBox(minimum=0, maximum=MAX_INPAINT_PADDING_PX, suffix=" px")
        self._bind_spin(self.padding_spin, "inpaint_padding_px")
        form.addRow(self.only_masked_check)
        form.addRow("Mask padding", self.padding_spin)

        self.live_check = QCheckBox("Live painting: a short run after each stroke")
        self._bind_check(self.live_check, "live_painting")
        self.live_steps_spin = QSpinBox(minimum=1, maximum=50)
        self._bind_spin(self.live_steps_spin, "live_steps")
        form.addRow(self.live_check)
        form.addRow("Live steps", self.live_steps_spin)

    def _show_strength(self, strength: float) -> None:
        self.strength_slider.setValue(round(strength * 100))
        self.strength_label.setText(f"{strength:.2f}")

    def _bind_spin(self, spin: QSpinBox | QDoubleSpinBox, name: str) -> None:
        spin.setValue(getattr(self.parameters, name))
        spin.valueChanged.connect(lambda value: setattr(self.parameters, name, value))
        getattr(self.parameters, f"{name}_changed").connect(spin.setValue)

    def _choose_tiny_decoder(self) -> None:
        if self.parameters.tiny_decoder:  # a second click forgets the folder
            self.parameters.tiny_decoder = ""
            return
        folder = QFileDialog.getExistingDirectory(self, "Tiny autoencoder folder (TAESD, diffusers format)")
        if folder:
            self.parameters.tiny_decoder = folder

    def _show_tiny_decoder(self, folder: str) -> None:
        name = folder.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        label = f"{name} (click to forget)" if folder else "Model's own or cached TAESD…"
        self.tiny_decoder_button.setText(label)

    def _choice_combo(self, labels: dict[Enum, str], name: str) -> QComboBox:
        """A combo box of an enum's choices, with their labels, bound to the parameter `name`."""
        combo = QComboBox()
        for choice, label in labels.items():
            combo.addItem(label, choice.value)
        self._bind_combo(combo, name)
        return combo

    def _bind_combo(self, combo: QComboBox, name: str) -> None:
        def show(value: str) -> None:
            combo.setCurrentIndex(max(0, combo.findData(value)))

        show(getattr(self.parameters, name))
        combo.currentIndexChanged.connect(lambda index: setattr(self.parameters, name, combo.itemData(index)))
        getattr(self.parameters, f"{name}_changed").connect(show)

    def _bind_check(self, check: QCheckBox, name: str) -> None:
        check.setChecked(getattr(self.parameters, name))
        check.toggled.connect(lambda checked: setattr(self.parameters, name, checked))
        getattr(self.parameters, f"{name}_changed").connect(check.setChecked)
