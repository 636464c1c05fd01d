"""What runs inside a benchmark's environment, started by path: standard library only, since
it must work under whatever Python and packages an old commit had."""

from pathlib import Path

_HERE = Path(__file__).parent
WORKER_SCRIPT = _HERE / "worker.py"  # discovers and times a suite in its own process
BUILD_SCRIPT = _HERE / "pep517_build.py"  # builds a commit's wheel with its own backend
LIFELINE_SCRIPT = _HERE / "lifeline.py"  # runs a command that dies, whole, with histbench
# the worker and what it loads by path from beside itself: all an old commit's env needs
WORKER_FILES = ("worker.py", "worker_spec.py", "failures.py", "suite_import.py",
                "discovery.py", "instance.py", "timing.py", "gauge.py", "disturbance.py",
                "energy.py", "memory.py", "lifeline.py", "instructions.py")
