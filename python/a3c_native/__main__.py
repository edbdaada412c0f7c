"""``python -m a3c_native``: the same command line as the ``a3c-native`` script (cli.py)."""

from a3c_native.cli import main

if __name__ == "__main__":
    main()
