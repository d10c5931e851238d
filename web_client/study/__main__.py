"""Studies from the command line, on the web app's database (the same --data-dir / --database-url).

    python -m web_client.study load STUDY.yaml            add a study (or replace one nobody has begun)
    python -m web_client.study list                       studies and their participants
    python -m web_client.study export ID [--table steps|participants|trials] [--format json] [--out FILE]
    python -m web_client.study delete ID --yes            the study with all its data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from web_client.study import add_database_flags, database_url, dataset
from web_client.study.definition import StudyError, load
from web_client.study.store import Store, StoreError, engine_for, migrate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m web_client.study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("load", help="add a study file").add_argument("file", type=Path)
    commands.add_parser("list", help="the studies")
    export = commands.add_parser("export", help="a study's data")
    export.add_argument("study")
    export.add_argument("--table", choices=dataset.TABLES, default="events")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--out", type=Path, help="a file (default: standard output)")
    delete = commands.add_parser("delete", help="remove a study and all its data")
    delete.add_argument("study")
    delete.add_argument("--yes", action="store_true", help="yes, delete it and every participant's data")
    return parser


def run(args, store: Store) -> str:
    if args.command == "load":
        study = load(args.file)
        store.put_study(study)
        return f"loaded {study.id}: {len(study.steps)} steps, {len(study.photos)} photos; link /study/{study.id}"
    if args.command == "list":
        return "\n".join(f"{sid}\t{len(store.participants(sid))} participants" for sid in store.study_ids()) \
            or "no studies"
    if args.command == "export":
        rows, columns = dataset.table(store.study(args.study), dataset.source(store, args.study, args.table),
                                      args.table)
        rows = list(rows)
        text = json.dumps(rows, indent=1) + "\n" if args.format == "json" else dataset.to_csv(rows, columns)
        if not args.out:
            return text.rstrip("\n")
        args.out.write_text(text)
        return f"wrote {len(rows)} rows to {args.out}"
    if not args.yes:
        raise StoreError(f"delete removes {args.study!r} and all of its participants' data: add --yes")
    return f"deleted {args.study} ({store.delete_study(args.study)} events)"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    engine = engine_for(database_url(args))
    migrate(engine)
    try:
        print(run(args, Store(engine)))
    except (StudyError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
