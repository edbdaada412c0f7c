"""Small NumPy environments for the learning tests (tests/ is on sys.path via rootdir conftest)."""
