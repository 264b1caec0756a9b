"""The desktop app: PySide6 widgets only. Never imports torch or diffusers; worker.py is the one bridge."""
