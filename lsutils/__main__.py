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
        for preset in results.PRESETS:
            state, why = results.inspect(name, preset)
            print(f"    {preset:6s} {state}")
            if state == "corrupt":  # skipped, with the reason on stderr; the listing goes on
                print(f"warning: {why}", file=sys.stderr)


def _run(args) -> None:
    res = results.run(args.name, args.preset, recompute=args.recompute)
    how = "cache hit" if res.cached else "computed and stored"
    print(f"{args.name} [{args.preset}]: {how}: {results.result_path(args.name, args.preset)}")
    print(f"  {res.describe()}")


def _data(args) -> None:
    from lsutils import data

    data.prepare(args.name, root=args.root, download=not args.no_download)


def _bench(args) -> None:
    from lsutils.bench import bench

    r = bench(args.arch, args.steps, args.batch_size, args.device, args.num_workers, args.compile)
    print(f"{r['arch']}, {r['steps']} steps of {r['batch_size']} on {r['device']}:")
    print(f"  engine (lsutils.train)              {r['engine']:9.0f} images/s")
    print(f"  plain loop (DataLoader, {r['num_workers']} workers)   {r['plain']:9.0f} images/s")
    print(f"  ratio engine / plain                {r['ratio']:9.2f}x")


def _close_progress_bars() -> None:
    """End any progress bar an exception left open, so an error starts on its own line."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


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
    p = sub.add_parser("bench", help="images/s of the training engine against a plain DataLoader loop")
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--steps", type=_positive_int, default=40)
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--num-workers", type=int, choices=range(0, 65), metavar="{0..64}", default=2, help="DataLoader workers of the plain loop")
    p.add_argument("--compile", action="store_true", help="torch.compile the engine's model")
    p.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, RuntimeError, OSError) as exc:  # one line, not a traceback, for expected failures
        _close_progress_bars()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _close_progress_bars()
        print("interrupted; finished runs of a sweep are kept and resume next time", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
