"""``python -m qsim serve``: registered through the ``qsim.cli`` entry-point group (pyproject.toml)."""

from __future__ import annotations

import argparse
import os
import sys


def cmd_serve(args) -> int:
    from jobs.endpoint.server import serve
    from jobs.store.layout import qsim_home

    home = args.home or os.environ.get("QSIM_HOME") or str(qsim_home())
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        print(f"qsim: error: serve: --host {args.host} would accept connections from other machines; "
              "add --allow-remote if that is what you want", file=sys.stderr, flush=True)
        return 2
    try:
        return serve(home, host=args.host, port=args.port, region=args.region)
    except (RuntimeError, OSError) as e:
        print(f"qsim: error: serve: {e}", file=sys.stderr, flush=True)
        return 2


def register(subparsers) -> argparse.ArgumentParser:
    from jobs.endpoint import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION

    p = subparsers.add_parser("serve", help="a local Braket endpoint (AwsQuantumJob, @hybrid_job, AwsDevice on qsim)",
                              description="Serve Braket's API (and the S3/IAM/STS/Logs/ECR calls the Braket SDK "
                                          "makes) on this machine, backed by qsim. Writes $QSIM_HOME/endpoint.env.")
    p.add_argument("--home", help="state directory (default $QSIM_HOME or ~/.qsim)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--region", default=DEFAULT_REGION, help=f"the region clients use (default {DEFAULT_REGION})")
    p.add_argument("--allow-remote", action="store_true", help="allow a --host other than loopback")
    p.set_defaults(func=cmd_serve)
    return p
