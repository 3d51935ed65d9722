"""``python -m sweeplab``: the ``sweeplab`` command (what a sweep's ``--jobs`` workers run)."""

from sweeplab.cli import entrypoint

if __name__ == "__main__":
    entrypoint()
