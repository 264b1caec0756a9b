"""Latent Studio: `python main.py` opens the app; `python main.py --help` lists the commands."""

import sys

from studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
