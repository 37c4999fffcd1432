"""Launch Tuning Studio in the browser; `tuning-studio` once the package is installed, `python app.py` from the project.

    tuning-studio [--host 127.0.0.1] [--port 7860] [--workspace DIR] [--no-browser] [--auth user:pass] [--share]
                  [--allow-paths DIR ...] [--allow-remote-code] [--allow-host NAME ...] [--max-upload-mb 100]
                  [--api-key KEY]

Every handler is also an HTTP endpoint, so what a request may reach is set here, at launch: files in the
workspace and the samples (and folders named with --allow-paths), model code only with
--allow-remote-code, requests only for the app's own host names and from its own pages.

`tuning-studio train|queue|experiment|report|generate|eval|export|data|runs|serve ...` runs the command line instead (`python -m studio`).

The app also serves the model switched on in its Chat tab over an OpenAI-compatible API, under /v1 on its own port
(`studio.serve`). A launch that others can reach (another host, --share) always asks API clients for a key: the
one given with --api-key (or STUDIO_API_KEY), else one made at launch and shown in the Chat tab's panel.

While the app runs, its queue runner starts queued runs one after another (`studio.run_queue`); a restarted app
goes on with the queue, and finds a job that trained on meanwhile through its run folder.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys


MAX_UPLOAD_MB = 100
COMMANDS = ("train", "queue", "experiment", "report", "generate", "eval", "export", "data", "runs", "serve")  # the verbs of `python -m studio`


def first_free_port(host: str, start: int) -> int:
    for port in range(start, start + 100):
        with socket.socket() as probe:
            if probe.connect_ex((host if host != "0.0.0.0" else "127.0.0.1", port)) != 0:
                return port
    raise SystemExit(f"No free port between {start} and {start + 99}; pass --port.")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tuning Studio: fine-tune a language model on your own data.",
        # Lines of its own: wrapped, a program name with a hyphen could break in two.
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"The command line (the same as python -m studio):\n  %(prog)s {{{','.join(COMMANDS)}}} ...\n"
               "  %(prog)s train --help   (each command's own options)")
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: this machine only).")
    parser.add_argument("--port", type=int, default=None, help="Port (default: the first free one from 7860).")
    parser.add_argument("--workspace", default=None, help="Folder for datasets, runs and the model cache.")
    parser.add_argument("--no-browser", action="store_true", help="Do not open a browser tab.")
    parser.add_argument("--auth", default=None, metavar="USER:PASS", help="Ask for this login (needed with --share or another host).")
    parser.add_argument("--share", action="store_true", help="Open a public link (needs --auth).")
    parser.add_argument("--allow-paths", action="append", default=[], metavar="DIR",
                        help="Also let the app open datasets and models in DIR (your own folder); repeatable.")
    parser.add_argument("--allow-remote-code", action="store_true",
                        help="Let the Train tab switch on trust_remote_code (runs Python shipped with a model).")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="Also answer requests addressed to this host name (e.g. behind a proxy); repeatable.")
    parser.add_argument("--max-upload-mb", type=int, default=MAX_UPLOAD_MB,
                        help=f"Largest file an upload may be, in MB (default {MAX_UPLOAD_MB}).")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="Key clients of the OpenAI-compatible API (/v1) must send; default: $STUDIO_API_KEY, "
                             "else none on this machine and a new one made at launch for any other host.")
    args = parser.parse_args(argv)
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    if (args.share or not loopback) and not args.auth:
        parser.error("--share and non-loopback hosts let other people in: add --auth user:password.")
    if args.auth and ":" not in args.auth:
        parser.error("--auth takes user:password.")
    for folder in args.allow_paths:
        if not os.path.isdir(folder):
            parser.error(f"--allow-paths {folder}: no such folder.")
    if not 1 <= args.max_upload_mb <= 100_000:
        parser.error("--max-upload-mb takes a number of megabytes from 1 to 100000.")
    return args


def main(argv: list[str] | None = None) -> None:
    """Launch the app; with a command line verb first (`train`, `runs`, ...) run that command instead."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        from studio.__main__ import main as run_command

        raise SystemExit(run_command(argv, prog=os.path.basename(sys.argv[0]) or "tuning-studio"))
    args = parse_arguments(argv)
    if args.workspace:
        os.environ["STUDIO_WORKSPACE"] = os.path.abspath(args.workspace)
    from studio.access import ALLOW_PATHS_ENV, REMOTE_CODE_ENV

    # What requests may reach is the launch's choice alone: an inherited setting does not widen it.
    os.environ[ALLOW_PATHS_ENV] = os.pathsep.join(os.path.abspath(folder) for folder in args.allow_paths)
    os.environ[REMOTE_CODE_ENV] = "1" if args.allow_remote_code else ""
    from studio import serve
    from studio.jobs import JobManager
    from studio.models import embedded_gguf_path
    from studio.run_queue import start_runner
    from studio.ui import LAUNCH_OPTIONS, build_ui
    from studio.ui.guard import host_guard
    from studio.ui.idle import quiet_queue
    from studio.ui.lang import language_script
    from studio.ui.i18n import i18n

    try:
        embedded_gguf_path()
    except ValueError as missing:  # the app still opens: a model folder or hub id trains without it
        print(f"Note: {missing}", file=sys.stderr)
    port = args.port or first_free_port(args.host, 7860)
    # The API answers with the key given; a launch others can reach gets one made here, shown in the Chat tab only.
    serve.IN_APP.key = args.api_key or os.environ.get(serve.KEY_ENV) or (
        None if args.host in serve.LOOPBACK and not args.share else secrets.token_urlsafe(24))
    serve.IN_APP.url = serve.base_url(args.host, port)
    demo = build_ui()
    # The queue's runner has a job manager of its own: the page's finds the jobs it starts through their folders.
    runner = start_runner(JobManager())
    print(f"Tuning Studio on http://{args.host}:{port}", file=sys.stderr)
    try:  # launch() returns when the server stops
        quiet_queue(demo.queue()).launch(  # polls that cost next to nothing while nobody clicks
            i18n=i18n, **LAUNCH_OPTIONS,
            server_name=args.host, server_port=port, inbrowser=not args.no_browser, share=args.share,
            auth=tuple(args.auth.split(":", 1)) if args.auth else None,
            max_file_size=args.max_upload_mb * 1_000_000,
            app_kwargs={"middleware": [host_guard(args.host, args.allow_host, args.share), language_script()],
                        "routes": serve.IN_APP.routes()},
        )
    finally:
        runner.stop()


if __name__ == "__main__":
    main()
