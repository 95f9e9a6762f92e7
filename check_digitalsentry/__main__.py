"""``python -m check_digitalsentry``: the check plugin's entry point, exactly as the console script."""

from check_digitalsentry.cli import run

if __name__ == "__main__":
    run()
