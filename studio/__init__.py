"""Tuning Studio: fine-tune a language model on your own data, from the CLI or the UI.

The package holds everything but the UI (`studio.ui`, the only part that imports gradio).
Run `python -m studio --help` for the command line.
"""

__version__ = "0.1.0"
