"""Tuning Studio: fine-tune a language model on your own data, from the CLI or the UI.

The package holds everything but the UI (`studio.ui`, the only part that imports gradio).
Run `python -m studio --help` for the command line.
"""

import logging

__version__ = "0.1.0"

# bitsandbytes, imported by PEFT, tries to fetch a 4-bit CPU kernel from the hub on CPUs with AVX512-BF16 and
# warns "pip install kernels" when it cannot. Only 4-bit runs on a CPU would use it, and the hub is not needed
# for them to work: the warning is noise at the top of every run's log.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
