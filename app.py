"""Launch Tuning Studio in the browser from the project folder: `python app.py --help` (./run.sh installs first).

The app lives in `studio/app.py`, which an installed package runs as `tuning-studio`.
"""

from studio.app import MAX_UPLOAD_MB, first_free_port, main, parse_arguments  # noqa: F401  (tests use them)

if __name__ == "__main__":
    main()
