"""``python -m nptbench store import|export|list|prune|thin``: the runs of a store (nptbench.schema.store), a
results folder or a PostgreSQL database, chosen by ``--results`` (default ``$NPTBENCH_RESULTS``, else
``results``).

* ``import SOURCE...``: every run file under each source (a results folder, a machine's folder, its
  ``history/runs``) at its place in the store, ``<fingerprint>/...``; a run already there unchanged is
  counted, never written twice; one at a taken path with other JSON is refused, never overwritten.
* ``export DEST``: the store's runs back as files under DEST, in the results layout (the same bytes).
* ``list``: one line per run (path, profile, conditions, datetime, commit, size), or ``--json``.
* ``prune --keep N`` / ``--older-than DAYS``: remove runs beyond the newest N of each set, or older;
  ``--dry-run`` names them and removes nothing.
* ``thin --rounds N``: keep at most N raw rounds per benchmark in every run.

Exit status: 0 done, 1 a run was refused or the store cannot be used, 2 usage.
"""
from __future__ import annotations

import argparse
import json
import sys

from nptbench.schema import store
from nptbench.schema.record import conditions_label
from nptbench.schema.runs import RunError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nptbench store",
                                description="Import, export, list, prune and thin the runs of a store: a results "
                                            "folder or a postgresql:// database.")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, help_):
        c = sub.add_parser(name, help=help_, description=help_)
        c.add_argument("--results", default=store.locate(),
                       help=f"the store: a results folder or a postgresql:// URL (default: ${store.ENV}, "
                            "else ./results)")
        return c

    c = command("import", "add every run under folders (or files) to the store, at their places in the results layout")
    c.add_argument("sources", nargs="+")
    c = command("export", "write the store's runs as files under a folder, in the results layout")
    c.add_argument("dest")
    c.add_argument("--under", default="", help="only runs below this folder of the store (e.g. a fingerprint)")
    c = command("list", "one line per stored run")
    c.add_argument("--under", default="", help="only runs below this folder of the store (e.g. a fingerprint)")
    c.add_argument("--profile", help="only runs of this profile")
    c.add_argument("--json", action="store_true", help="the entries as JSON")
    c = command("prune", "remove runs beyond the newest N of each set, or older than some days")
    c.add_argument("--under", default="", help="only runs below this folder of the store (e.g. a fingerprint)")
    c.add_argument("--keep", type=int, help="keep the newest N runs of each set (folder, profile, conditions)")
    c.add_argument("--older-than", type=float, metavar="DAYS", help="remove runs measured more than DAYS ago")
    c.add_argument("--dry-run", action="store_true", help="name the runs, remove nothing")
    c = command("thin", "keep at most N raw rounds per benchmark in every stored run")
    c.add_argument("--rounds", type=int, required=True)
    c.add_argument("--under", default="", help="only runs below this folder of the store (e.g. a fingerprint)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "prune" and args.keep is None and args.older_than is None:
        p.error("prune needs --keep N or --older-than DAYS")
    if args.command == "prune" and args.keep is not None and args.keep < 1:
        p.error("--keep must be at least 1 (remove a whole set by hand)")
    try:
        target = store.open_store(args.results)
    except RunError as exc:
        print(f"nptbench store: {exc}", file=sys.stderr)
        return 1
    try:
        return run(args, target)
    except RunError as exc:
        print(f"nptbench store: {exc}", file=sys.stderr)
        return 1
    finally:
        target.close()


def run(args, target: store.Store) -> int:
    if args.command == "import":
        added = same = 0
        refused = []
        for source in args.sources:
            a, s, r = store.import_runs(target, source, report=lambda line: print(line, file=sys.stderr))
            added, same, refused = added + a, same + s, refused + r
        print(f"imported into {target.location}: {added} added, {same} already there, {len(refused)} refused")
        return 1 if refused else 0
    if args.command == "export":
        written, same = store.export_runs(target, args.dest, args.under)
        print(f"exported {target.location} to {args.dest}: {written} written, {same} already there")
        return 0
    if args.command == "list":
        entries = [e for e in target.entries(args.under) if args.profile in (None, e.profile)]
        if args.json:
            print(json.dumps([e.as_json() for e in entries], indent=1))
        else:
            for e in entries:
                print(f"{e.path}  {e.profile}  {conditions_label(e.conditions) or '-'}  {e.datetime[:19]}  "
                      f"{e.commit[:10] or '-'}  {e.size} B")
            print(f"{len(entries)} run{'s' if len(entries) != 1 else ''} in {target.location}")
        return 0
    if args.command == "prune":
        gone = store.prune(target, args.under, args.keep, args.older_than, args.dry_run)
        for e in gone:
            print(f"{'would remove' if args.dry_run else 'removed'} {e.path} ({e.datetime[:19]})")
        print(f"{len(gone)} run{'s' if len(gone) != 1 else ''} {'to prune' if args.dry_run else 'pruned'} "
              f"in {target.location}")
        return 0
    thinned = store.thin(target, args.rounds, args.under)
    print(f"thinned {len(thinned)} run{'s' if len(thinned) != 1 else ''} to at most {args.rounds} raw rounds a "
          f"benchmark in {target.location}")
    return 0
