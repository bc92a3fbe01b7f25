"""``python -m lsutils``: list experiments, run them (or dry-run them), plan their cost, prepare data."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from lsutils import results


def _list(args) -> None:
    for name, exp in sorted(results.REGISTRY.items()):   # every declared experiment
        print(f"{name}  (version {exp.version})  {exp.description.splitlines()[0] if exp.description else ''}")
        for preset in results.PRESETS:
            state, why = results.inspect(name, preset)
            print(f"    {preset:6s} {state}")
            if state == "corrupt":  # skipped, with the reason on stderr; the listing goes on
                print(f"warning: {why}", file=sys.stderr)


def _run(args) -> None:
    if args.dry_run:
        _dry_run(args)
        return
    res = results.run(args.name, args.preset, recompute=args.recompute, jobs=args.jobs)
    how = "cache hit" if res.cached else "computed and stored"
    print(f"{args.name} [{args.preset}]: {how}: {results.result_path(args.name, args.preset)}")
    print(f"  {res.describe()}")


def _dry_run(args) -> None:
    from lsutils import dryrun

    images, batch = _limits(args)
    with dryrun.temporary_results(), dryrun.dry_run(args.steps, images, batch) as ledger:
        results.run(args.name, args.preset)
    plan = {"preset": args.preset, "device": _device(), "experiments": {
        args.name: {"groups": dryrun.summarize(ledger)}}}
    per_step = f"at most {batch} images" if batch else "the preset's batch"
    print(f"{args.name} [{args.preset}]: dry run done: {len(ledger)} training calls, each stopped after at most "
          f"{args.steps} steps of {per_step}, at most {images} images per data split; nothing stored")
    for g in plan["experiments"][args.name]["groups"]:
        teacher = f" + teacher {g['teacher']}" if g["teacher"] else ""
        print(f"    {g['calls']:4d} x {g['model']}{teacher}: {g['planned_steps']:,d} planned steps of "
              f"{g['batch_size'] * g['runs']} images, {g['flops_per_image'] / 1e6:.2f} MFLOP/image forward")
    print(dryrun.format_plan(plan))


def _limits(args) -> tuple[int, int | None]:
    """(max_images, max_batch) of a dry run: the options, else dryrun.default_limits() of this device."""
    from lsutils import dryrun

    limits = dryrun.default_limits()
    images = args.max_images or limits["max_images"]
    batch = limits["max_batch"] if args.max_batch is None else (args.max_batch or None)
    return images, batch


def _device() -> str:
    from lsutils import train

    return str(train.default_device())


def _images_per_s(text: str | None):
    """--images-per-s: a number, or a JSON file: one `bench --json` output, or an object mapping
    model/arch names (or "default") to images/s or to `bench --json` outputs (their "engine" figure)."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return _figures_file(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"--images-per-s must be a finite number > 0 or a JSON file, got {text!r}")
    return value


def _figures_file(text: str) -> dict:
    """The name -> images/s mapping of an --images-per-s file; a malformed one is a one-line
    ValueError naming the file (and the entry or key at fault)."""
    try:
        raw = json.loads(Path(text).read_text())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"--images-per-s file {text} is not valid JSON: {exc}") from None
    if isinstance(raw, dict) and isinstance(raw.get("arch"), str):  # one `bench --json` output
        raw = {raw["arch"]: raw}
    if not isinstance(raw, dict):
        raise ValueError(f"--images-per-s file {text} must hold a JSON object (name -> images/s)")
    missing = [k for k, v in raw.items() if isinstance(v, dict) and "engine" not in v]
    if missing:
        raise ValueError(f"--images-per-s file {text}: entry {missing[0]!r} lacks the key \"engine\" "
                         f"(the images/s of a `bench --json` output)")
    value = {k: v["engine"] if isinstance(v, dict) else v for k, v in raw.items()}
    bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0]
    if bad:
        raise ValueError(f"--images-per-s file {text}: not a number > 0 for {bad}")
    return value


def _plan(args) -> None:
    from lsutils import dryrun

    rate = _images_per_s(args.images_per_s)
    plan = dryrun.plan_preset(args.preset, args.only or None, args.steps, *_limits(args), progress=True)
    print(dryrun.format_plan(plan, rate))
    if args.json:
        for name, exp in plan["experiments"].items():
            exp["cost"] = dryrun.cost(exp["groups"], rate)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n")
        print(f"written: {args.json}")


def _data(args) -> None:
    from lsutils import data

    data.prepare(args.name, root=args.root, download=not args.no_download)


def _bench(args) -> None:
    if args.json:  # before the benchmark, which takes minutes: not after it
        _check_writable("--json", args.json)
    from lsutils.bench import bench

    r = bench(args.arch, args.steps, args.batch_size, args.device, args.num_workers, args.compile)
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n")
    print(f"{r['arch']}, {r['steps']} steps of {r['batch_size']} on {r['device']}:")
    print(f"  engine (lsutils.train)              {r['engine']:9.0f} images/s")
    print(f"  plain loop (DataLoader, {r['num_workers']} workers)   {r['plain']:9.0f} images/s")
    print(f"  ratio engine / plain                {r['ratio']:9.2f}x")


def _check_writable(option: str, text: str) -> None:
    """Refuse an output file that cannot be written: its folder must exist and take a file
    (tried with a temporary file, which also catches read-only file systems and root-owned
    folders that permission bits alone would not show), and it must not be a folder."""
    path = Path(text)
    if path.is_dir():
        raise ValueError(f"{option} {text} is a folder, not a file")
    if not path.parent.is_dir():
        raise ValueError(f"{option} {text}: the folder {path.parent} does not exist")
    try:
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as exc:
        raise ValueError(f"{option} {text}: cannot write in {path.parent} ({exc.strerror or exc})") from exc
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {text} exists and is not writable")


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


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def _dry_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=_positive_int, default=2, help="dry run: optimiser steps per training call")
    p.add_argument("--max-images", type=_positive_int, default=None,
                   help="dry run: images per data split (default: 1024 on CUDA, 32 on a CPU)")
    p.add_argument("--max-batch", type=_non_negative_int, default=None,
                   help="dry run: images per step, 0 for the preset's own batch (default: 0 on CUDA, 8 on a CPU)")


def main(argv: list[str] | None = None) -> int:
    import lsutils.experiments  # noqa: F401  (the catalogue: importing it declares every experiment)

    parser = argparse.ArgumentParser(prog="python -m lsutils", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="experiments, presets and what is cached").set_defaults(func=_list)
    p = sub.add_parser("run", help="compute (or load from the cache) one experiment at one preset")
    p.add_argument("name")
    p.add_argument("--preset", required=True, choices=results.PRESETS)
    p.add_argument("--recompute", action="store_true", help="discard the cached result and its runs")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="compute a sweep's independent runs in N worker processes (spread over the visible "
                        "GPUs, or sharing the CPU cores); at most one per CPU and per 700 MiB of available "
                        "memory; a dry run always uses one")
    p.add_argument("--dry-run", action="store_true",
                   help="run every training call for a few steps on this device, in a temporary results "
                        "directory (nothing is stored), and print what the real run would train")
    _dry_run_options(p)
    p.set_defaults(func=_run)
    p = sub.add_parser("plan", help="cost of a preset per experiment: runs, optimiser steps, FLOPs, time "
                                    "(from a dry run of each experiment)")
    p.add_argument("--preset", default="gpu", choices=results.PRESETS)
    p.add_argument("--only", action="append", metavar="NAME", help="plan only this experiment (repeatable)")
    p.add_argument("--images-per-s", default=None, metavar="N|FILE",
                   help="measured training images/s: one number, or a JSON file mapping model or arch names "
                        "(e.g. resnet56) to images/s or to `bench --json` output; default: an assumed "
                        "figure, said so in the output")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the plan (and costs) as JSON")
    _dry_run_options(p)
    p.set_defaults(func=_plan)
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
    p.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
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
