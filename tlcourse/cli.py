"""The ``tlcourse`` command: ``run``, ``doctor``, ``fetch``, ``student``, ``readme``.

    tlcourse run                    # every notebook, default profile, into runs/<timestamp>/
    tlcourse doctor                 # is this machine ready for the course?
    tlcourse fetch --profile full   # pre-download every asset a profile needs
    tlcourse student OUTDIR         # learner copies of the notebooks, solutions removed
    tlcourse readme                 # README tables from runs/latest/report.json
    tlcourse finetune --data DIR    # the capstone as a script (python -m tlcourse.finetune)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _cmd_run(args) -> int:
    from tlcourse.profiles import resolve_name
    from tlcourse.runner import find_notebooks, run_course

    resolve_name(args.profile)  # an unknown profile fails here, before any notebook runs
    notebooks = [Path(p) for p in args.notebooks] or find_notebooks(args.folder)
    if not notebooks:
        print(f"no notebooks found in {args.folder}", file=sys.stderr)
        return 2
    out_dir = run_course(notebooks, args.runs, profile=args.profile)
    print(f"report: {out_dir / 'report.md'} (and report.html, report.json)")
    report = json.loads((out_dir / "report.json").read_text())
    return 0 if report["ok"] else 1


def _check(label: str, fn) -> bool:
    try:
        detail = fn()
    except Exception as err:  # doctor reports every problem, then exits non-zero
        print(f"  [FAIL] {label}: {type(err).__name__}: {err}")
        return False
    print(f"  [ ok ] {label}" + (f": {detail}" if detail else ""))
    return True


def _offline_backbones_see_cat() -> str:
    import torch

    from tlcourse.backbones.efficientnet_lite import LITE_VARIANTS
    from tlcourse.data import image_transform, load_photos
    from tlcourse.models import load_backbone, top_k
    from tlcourse.profiles import get_profile

    photo, seen = load_photos(["chelsea"])["chelsea"], []
    for name in get_profile("offline").backbones:
        model = load_backbone(name)
        variant = name.removeprefix("efficientnet_")
        resolution = LITE_VARIANTS[variant][2] if variant in LITE_VARIANTS else 224  # trained at
        label, prob = top_k(model, image_transform(name, resolution)(photo)[None], k=1)[0][0]
        if label not in ("tabby", "tiger cat", "Egyptian cat"):
            raise RuntimeError(f"{name} called the cat photo {label!r}: its weights look wrong")
        seen.append(f"{variant} {label} ({prob:.0%})")
    return f"cat photo -> {', '.join(seen)}; torch threads {torch.get_num_threads()}"


def _notebook_tools_info() -> None:
    """papermill runs notebooks headless (`tlcourse run`); a learner in Jupyter or on Colab
    does not need it, so its absence is information, not a failed check."""
    try:
        import papermill
    except ImportError:
        print("  [info] notebook tools: papermill is not installed; only `tlcourse run` needs it "
              "(pip install 'tlcourse[course]')")
    else:
        print(f"  [info] notebook tools: papermill {papermill.__version__} (for `tlcourse run`)")


def _cmd_doctor(args) -> int:
    import tlcourse
    from tlcourse.data import DATASETS, cache_dir
    from tlcourse.data.download import network_available

    env = tlcourse.setup(profile=args.profile)
    print("\nchecks:")
    ok = all([
        _check("embedded datasets (checksums)", lambda: ", ".join(
            f"{n}: {len(DATASETS[n].build('all', None, False))}"
            for n in ("clipart", "clipart_unlabelled", "clipart_fewshot", "clipart_pairs",
                      "mnist5k", "uci_digits"))),
        _check("offline backbones EfficientNet-Lite0/1/2 (ImageNet weights)",
               _offline_backbones_see_cat),
    ])
    _notebook_tools_info()
    net = network_available("https://download.pytorch.org")
    print(f"  [info] network to download.pytorch.org: {'yes' if net else 'no'}; "
          f"download cache: {cache_dir()}")
    if env.profile == "full" and not net:
        print("  [info] full profile without a network: run `tlcourse fetch --profile full` "
              "beforehand, on a connected machine, and copy the cache folder.")
    print("\nready." if ok else "\nsome checks failed: see above.")
    return 0 if ok else 1


def _size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def _cmd_fetch(args) -> int:
    from tlcourse.data import AssetMissingError, cache_dir
    from tlcourse.data.assets import profile_assets, verify
    from tlcourse.profiles import resolve_name

    name = resolve_name(args.profile)
    assets = profile_assets(name)
    todo = [a for a in assets if a.downloads and not a.cached()]
    print(f"the {name} profile's assets (cache: {cache_dir()}):")
    for asset in assets:
        state = ("ships with the course" if not asset.downloads else
                 "in the cache" if asset not in todo else f"to download, {_size(asset.size)}")
        print(f"  {asset.name:40s} {state}")
    total = sum(a.size for a in todo)
    print(f"to download: {len(todo)} asset(s), about {_size(total)}")
    if args.dry_run:
        return 0
    failed: set[str] = set()
    for asset in todo:
        print(f"downloading {asset.name} ({_size(asset.size)}) ...", flush=True)
        try:
            asset.fetch()
        except AssetMissingError:
            raise  # no network: stop at once, saying what to do
        except (OSError, RuntimeError) as err:  # a bad checksum, a host that failed: go on
            failed.add(asset.name)
            print(f"  [FAIL] {asset.name}: {type(err).__name__}: {err}", flush=True)
    print("checksums:")
    for asset in assets:
        problems = verify(asset)
        if problems:
            failed.add(asset.name)
        checked = ("checksums match" if any(alg for _, alg, _ in asset.files())
                   else "present (no published checksum to check)")
        print(f"  [{'FAIL' if problems else ' ok '}] {asset.name}: "
              + ("; ".join(problems) if problems else checked))
    if failed:
        print(f"{len(failed)} asset(s) failed: delete the files named above and run "
              f"`tlcourse fetch --profile {name}` again.")
    return 1 if failed else 0


def _cmd_student(args) -> int:
    from tlcourse.student import write_student_copies

    removed = write_student_copies(args.outdir, args.folder)
    for name, count in removed.items():
        print(f"  {name}: {count} solution cell(s) removed")
    print(f"learner copies in {args.outdir}")
    return 0


def _cmd_readme(args) -> int:
    from tlcourse.readme import update_readme

    changed = update_readme(args.readme, args.folder, args.report, args.gpu_report)
    print(f"{args.readme}: {'updated' if changed else 'already up to date'}")
    guide = Path(args.guide)
    if guide.exists():
        changed = update_readme(guide, args.folder, args.report, blocks=("schedule",))
        print(f"{guide}: {'updated' if changed else 'already up to date'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the notebooks and write a report")
    run.add_argument("notebooks", nargs="*", help="notebooks to run (default: all lessons)")
    run.add_argument("--profile", default="auto", help="offline, full or auto (default)")
    run.add_argument("--folder", default="notebooks", help="where the notebooks are")
    run.add_argument("--runs", default="runs", help="where run folders are written")
    run.set_defaults(func=_cmd_run)
    doctor = sub.add_parser("doctor", help="check this machine for the course")
    doctor.add_argument("--profile", default="auto")
    doctor.set_defaults(func=_cmd_doctor)
    fetch = sub.add_parser("fetch", help="pre-download a profile's assets into the cache: "
                           "sizes first, then the downloads, then every checksum")
    fetch.add_argument("--profile", default="full")
    fetch.add_argument("--dry-run", action="store_true",
                       help="only list the assets, what is cached and what a fetch would download")
    fetch.set_defaults(func=_cmd_fetch)
    student = sub.add_parser("student", help="write learner copies without the solutions")
    student.add_argument("outdir", help="folder for the copies")
    student.add_argument("--folder", default="notebooks", help="where the notebooks are")
    student.set_defaults(func=_cmd_student)
    readme = sub.add_parser("readme", help="regenerate the README's tables from a run report")
    readme.add_argument("--readme", default="README.md")
    readme.add_argument("--folder", default="notebooks")
    readme.add_argument("--report", default="runs/latest/report.json")
    readme.add_argument("--gpu-report", default=None, help="report.json of a GPU run, if any")
    readme.add_argument("--guide", default="docs/instructor_guide.md",
                        help="the instructor guide, whose schedule is regenerated too")
    readme.set_defaults(func=_cmd_readme)
    # Listed here; main() hands its arguments to tlcourse.finetune's own parser.
    sub.add_parser("finetune", add_help=False,
                   help="notebook 05's pipeline on an image folder (also under torchrun); "
                        "`tlcourse finetune --help` lists its settings")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["finetune"]:
        from tlcourse import finetune

        return finetune.main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"tlcourse {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
