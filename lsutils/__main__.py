"""``python -m lsutils``: list experiments, run them, prepare data."""

from __future__ import annotations

import argparse
import sys

from lsutils import results


def _list(args) -> None:
    from lsutils.results import REGISTRY, _load_registry

    _load_registry()
    for name in sorted(REGISTRY):
        exp = REGISTRY[name]
        print(f"{name}  (version {exp.version})  {exp.description.splitlines()[0] if exp.description else ''}")
        for preset, state in results.status(name).items():
            print(f"    {preset:6s} {state}")


def _run(args) -> None:
    res = results.run(args.name, args.preset, recompute=args.recompute)
    how = "cache hit" if res.cached else "computed and stored"
    print(f"{args.name} [{args.preset}]: {how}: {results.result_path(args.name, args.preset)}")
    print(f"  {res.describe()}")


def _data(args) -> None:
    from lsutils import data

    path, route = data.prepare(args.name, root=args.root, download=not args.no_download)
    print(f"{args.name}: ready in {path} (route: {route})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lsutils", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="experiments, presets and what is cached").set_defaults(func=_list)
    p = sub.add_parser("run", help="compute (or load from the cache) one experiment at one preset")
    p.add_argument("name")
    p.add_argument("--preset", required=True, choices=results.PRESETS)
    p.add_argument("--recompute", action="store_true", help="discard the cached result and its runs")
    p.set_defaults(func=_run)
    p = sub.add_parser("data", help="find or prepare a data set by the first route that works")
    p.add_argument("name", nargs="?", default="fashion_mnist")
    p.add_argument("--root", default=None, help="data directory (default: $LSBOOK_DATA or ~/.cache/lsbook/data)")
    p.add_argument("--no-download", action="store_true", help="never use the network")
    p.set_defaults(func=_data)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, RuntimeError, OSError) as exc:  # one line, not a traceback, for expected failures
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished runs of a sweep are kept and resume next time", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
