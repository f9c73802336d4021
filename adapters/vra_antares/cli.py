"""``vra antares ...``: run the ANTARES filter offline on saved loci; package it for ANTARES.

Hooked into the ``vra`` command by ``add_subparser(subparsers)``. Everything heavy (the devkit,
the models) is imported inside the commands, so ``vra --help`` needs neither.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

EPILOG = """examples:
  vra antares run-locus tests/data/antares/devkit_small_locus.json
  vra antares run-locus tests/data/antares/lsst_loci_from_rubin.json.gz --replay --json
  vra antares package out/antares       # the devkit module + models + README, checked on Python 3.9
"""


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``antares`` (with ``run-locus`` and ``package``) to the ``vra`` sub-commands."""
    p = subparsers.add_parser(
        "antares", help="the ANTARES devkit filter: run it on saved loci, package it",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="The VRA + ORACLE filter for the ANTARES broker (antares-devkit 0.11 "
                    "BaseFilter, numpy only at run time).")
    sub = p.add_subparsers(dest="antares_command", metavar="ACTION")

    q = sub.add_parser(
        "run-locus", help="run the filter on loci saved as JSON (DevKitLocus shape)",
        description="Run the filter on each locus of the files (a DevKitLocus-shaped JSON "
                    "object or a list of them; .gz allowed) and print the status (with the "
                    "reason when skipped), the properties and tags it set and the time taken. "
                    "Needs antares-devkit.")
    q.add_argument("loci", nargs="+", metavar="LOCUS.json", help="saved loci")
    q.add_argument("--replay", action="store_true",
                   help="run once per alert, as ANTARES would while the locus grew (the "
                        "properties set on one run are the locus's on the next)")
    q.add_argument("--json", action="store_true", help="one JSON object per run")
    q.set_defaults(func=cmd_run_locus)

    q = sub.add_parser(
        "package", help="write what would be submitted to the ANTARES devkit repository",
        description="Write the filter module (with the numpy-only core vendored), its model "
                    "files and a README for the ANTARES team into OUTDIR, then import it from "
                    "OUTDIR alone in a fresh Python (3.9 with numpy 1.26 when one with "
                    "antares-devkit is found) and run it on the sample loci.")
    q.add_argument("outdir", metavar="OUTDIR")
    q.add_argument("--python", default=None,
                   help="interpreter for the check (needs numpy and antares-devkit; default: "
                        "$VRA_ANTARES_PYTHON, the checkout's .venv-py39-antares or "
                        ".venv-py39, else this one)")
    q.add_argument("--no-check", action="store_true", help="write the files only")
    q.add_argument("--force", action="store_true", help="replace an existing OUTDIR")
    q.set_defaults(func=cmd_package)

    p.set_defaults(func=lambda args: _help(p))
    return p


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def cmd_run_locus(args: Any) -> int:
    from .filter import VirtualResearchAssistant
    from .samples import devkit_locus, first_alerts, read_loci

    clock = time.perf_counter()
    flt = VirtualResearchAssistant()
    setup_ms = (time.perf_counter() - clock) * 1e3
    if not args.json:
        print(f"setup: {setup_ms:.1f} ms (models loaded once per worker)")
    for path in args.loci:
        for data in read_loci(path):
            steps = range(1, len(data.get("alerts") or []) + 1) if args.replay else [None]
            carried: Dict[str, Any] = {}
            for n in steps:
                if n is None:
                    locus = devkit_locus(data)
                else:
                    step = first_alerts(data, n)
                    step["user_properties"] = carried
                    locus = devkit_locus(step)
                report = run_one(flt, locus)
                carried = dict(locus.user_properties)
                report.update(file=str(path), n_alerts=len(locus.alerts))
                print(json.dumps(report, sort_keys=True) if args.json else _text(report))
    return 0


def run_one(flt: Any, locus: Any) -> Dict[str, Any]:
    """Run the filter once; what it set, its status and the time taken."""
    before_props = dict(locus.user_properties)
    before_tags = set(locus.tags)
    clock = time.perf_counter()
    result = flt.run(locus)
    elapsed = time.perf_counter() - clock
    changed = {k: v for k, v in locus.user_properties.items()
               if k not in before_props or before_props[k] != v}
    return {
        "locus_id": locus.id, "status": result.status, "reason": getattr(result, "reason", None),
        "exception": result.exception_name, "exception_message": result.exception_message,
        "ms": round(elapsed * 1e3, 3), "properties": changed,
        "tags": sorted(set(locus.tags) - before_tags),
    }


def _text(report: Dict[str, Any]) -> str:
    lines = [f"{report['locus_id']} ({report['n_alerts']} alerts): {report['status']} "
             f"in {report['ms']:.2f} ms"]
    if report["reason"]:
        lines.append(f"  reason: {report['reason']}")
    if report["exception"]:
        lines.append(f"  {report['exception']}: {report['exception_message']}")
    for key, value in sorted(report["properties"].items()):
        shown = value if not (isinstance(value, str) and len(value) > 100) \
            else f"{value[:97]}..."
        lines.append(f"  {key} = {shown!r}" if isinstance(value, str) else f"  {key} = {value}")
    if report["tags"]:
        lines.append(f"  tags: {', '.join(report['tags'])}")
    return "\n".join(lines)


def cmd_package(args: Any) -> int:
    from .package import PackageError, package

    try:
        summary = package(Path(args.outdir), python=args.python, check=not args.no_check,
                          force=args.force)
    except PackageError as exc:
        print(f"vra antares package: {exc}", file=sys.stderr)
        return 1
    print(summary_text(summary))
    return 0


def summary_text(summary: Dict[str, Any]) -> str:
    lines: List[str] = [f"wrote {summary['outdir']} ({summary['n_files']} files, "
                        f"{summary['bytes'] / 1e6:.1f} MB): module {summary['module']}"]
    check = summary.get("check")
    if check:
        lines.append(f"checked with {check['python']} (Python {check['python_version']}, "
                     f"numpy {check['numpy']}, antares-devkit {check['devkit']}):")
        for run in check["runs"]:
            extra = f" ({run['reason']})" if run.get("reason") else ""
            lines.append(f"  {run['name']}: {run['status']}{extra} in {run['ms']:.2f} ms")
    return "\n".join(lines)
