import os
import sys

from core.cli import main

code = main()
if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # a torchrun worker: skip finalization (core.runtime.exit_worker)
    from core.runtime import exit_worker

    exit_worker(code)
sys.exit(code)
