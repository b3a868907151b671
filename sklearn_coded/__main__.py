"""``python -m sklearn_coded``: the main job (see :mod:`sklearn_coded.cli`)."""

from sklearn_coded.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
