"""Where runs are kept: a results folder (today's layout, nptbench.schema.layout) or a PostgreSQL database,
chosen by one string, with the same operations on both.

A store holds run files (pytest-benchmark's JSON, the interchange) at relative paths in the results layout:
``<fingerprint>/<profile>-<name>.json`` for a machine's baseline set, ``<fingerprint>/report-inputs/...``
and ``<fingerprint>/history/runs/...`` for the rest. :func:`open_store` takes

* a folder (``results``, ``/srv/nptbench/results``): :class:`FolderStore`, the files themselves, unchanged,
  so every command that reads a folder keeps working on it; a cache of what :meth:`Store.entries` needs
  (``<fingerprint>/.nptbench-index.jsonl``, never committed) saves reading the runs again;
* ``postgresql://...`` (or ``postgres://``): :class:`PostgresStore`, one table ``nptbench_runs`` made on
  first use, each run's JSON kept byte for byte (zlib-compressed) beside the fields a gate chooses a set by.

:func:`locate` is where a command's ``--results`` comes from when it is not given: ``$NPTBENCH_RESULTS``,
else ``results``.

What a run keeps is bounded: its summary statistics as measured, and at most :data:`MAX_ROUNDS` raw rounds
per benchmark (:func:`thin_rounds`; ``store thin`` lowers that on purpose). Nothing is ever overwritten by
adding: a taken name is an error, or with ``unique`` the next free ``-2``, ``-3`` ... (two writers at once
each keep their run). Only :func:`prune` and :func:`thin`, run on purpose, remove or shrink a stored run.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from nptbench.schema import layout
from nptbench.schema import record as schema
from nptbench.schema.runs import Run, RunError, load

#: Where runs are kept when a command is given no ``--results``: a folder or a ``postgresql://`` URL.
ENV = "NPTBENCH_RESULTS"

#: Raw rounds a stored run keeps per benchmark. Microsecond benchmarks run 10^5 rounds, which would make a
#: run tens of MB; an evenly spaced subsample of this many keeps the distribution (and its bursts, which
#: come in time order) for compare's bootstrap. pytest-benchmark's stats stay as measured.
MAX_ROUNDS = 2000

#: Tries of other names for a unique add before giving up.
UNIQUE_TRIES = 1000

#: The folder store's cache of entries, one per machine folder; a hidden name, never a run (not *.json).
INDEX_FILE = ".nptbench-index.jsonl"


class Taken(RunError):
    """A path that holds a run already: adding never overwrites it."""


def thin_rounds(run: dict, keep: int = MAX_ROUNDS) -> bool:
    """Keep at most ``keep`` evenly spaced raw rounds of each benchmark; say so in its extra_info. Returns
    whether any benchmark lost rounds."""
    if keep < 2:
        raise RunError(f"keep at least 2 raw rounds a benchmark, not {keep}")
    thinned = False
    for bench in run["benchmarks"]:
        data = bench["stats"].get("data") or []
        if len(data) > keep:
            step = (len(data) - 1) / (keep - 1)
            bench["stats"]["data"] = [data[round(i * step)] for i in range(keep)]
            extra = bench.setdefault("extra_info", {})
            before = str(extra.get("raw_rounds_kept", "")).rpartition(" of ")[2] or len(data)
            schema.write(extra, raw_rounds_kept=f"{keep} of {before}")
            thinned = True
    return thinned


def as_text(run: dict) -> str:
    """A run as stored when it was changed (thinned, its commit set): the JSON promote has always written."""
    return json.dumps(run, indent=1)


def publish(text: str, dest: Path, unique: bool = False, names=None) -> Path:
    """Write ``text`` as ``dest`` whole or not at all, never over a file: it is written to a hidden temporary
    file in the same folder (not a ``*.json``, so no reader takes it for a run) and linked to its name,
    which fails where the name exists. A reader never sees half a run, and two writers at once never
    overwrite each other. With ``unique``, a taken name is tried again as ``<stem>-2<suffix>``, ... Errors
    of the file system (a read-only folder, a full disk) are :class:`RunError` naming the path. ``names``, an
    iterable of paths in ``dest``'s folder, is tried in order instead (it may look at the folder again for
    each name, as pytest-benchmark's next run number does: :func:`nptbench.plugin.save_exclusively`)."""
    if names is None:
        names = [dest] + ([dest.with_name(n) for n in _other_names(dest.name)] if unique else [])

    def link(tmp: str) -> Path:
        for candidate in names:
            try:
                os.link(tmp, candidate)
                return candidate
            except FileExistsError:
                continue
        raise Taken(f"{dest} already exists; baselines are never overwritten")

    return _via_temporary(text, dest, link)


def _other_names(name: str) -> list[str]:
    """The names a unique add tries after ``name``: ``<stem>-2<suffix>`` ..."""
    path = PurePosixPath(name)
    return [f"{path.stem}-{i}{path.suffix}" for i in range(2, UNIQUE_TRIES)]


def _via_temporary(text: str, dest: Path, finish):
    """Write ``text`` to a synced hidden temporary file beside ``dest`` and hand its name to ``finish``
    (which links or renames it into place); the temporary is gone afterwards either way."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".promote-", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise RunError(f"{dest.parent}: cannot write a run there ({exc.strerror or exc})") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        return finish(tmp)
    except OSError as exc:
        raise RunError(f"{dest}: cannot write it ({exc.strerror or exc})") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# --- what a gate chooses a set by, without reading the run again ------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One stored run as listed: its place and what a gate chooses a set by."""
    path: str  #: relative, with slashes: ``<fingerprint>/[<folder>/]<name>.json``
    fingerprint: str
    profile: str
    conditions: tuple  #: the run's own (nptbench.schema.runs.Run.conditions), ((name, value), ...)
    cold_l2: bool
    datetime: str
    commit: str  #: commit_info's full id ("" when none)
    size: int  #: bytes of the run's JSON text

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def in_set(self) -> bool:
        """Whether it is one of its machine's baseline runs (directly in the machine's folder)."""
        return self.path.count("/") == 1

    @classmethod
    def of(cls, path: str, run: Run, size: int) -> Entry:
        return cls(path, run.fingerprint, run.profile, run.conditions(), run.cold_l2, run.time,
                   (run.data.get("commit_info") or {}).get("id") or "", size)

    def as_json(self) -> dict:
        return {**asdict(self), "conditions": [list(c) for c in self.conditions]}

    @classmethod
    def from_json(cls, d: dict) -> Entry:
        return cls(**{**d, "conditions": tuple(tuple(c) for c in d["conditions"])})


def place(run: Run, source: Path) -> str:
    """The store path of a run read from ``source``: the part below the nearest folder named after the
    machine that measured it (``.../<fingerprint>/history/runs/x.json`` -> ``<fingerprint>/history/runs/
    x.json``); :class:`RunError` where no folder above it is its machine's."""
    fp = run.fingerprint
    parts = Path(source).resolve().parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == fp:
            return "/".join(parts[i:])
    raise RunError(f"{source}: not in a folder of the machine that measured it ({fp}); promote it "
                   "(python -m nptbench promote --results ...) to add it to that machine's set")


class Store:
    """The operations every store has; paths are :class:`Entry` paths."""
    location: str

    def add(self, text: str, path: str, run: Run, unique: bool = False) -> str:
        """Keep ``text`` (``run``'s JSON) at ``path``, never over another run: a taken path is a
        :class:`Taken`, or with ``unique`` the next free ``-2``, ``-3`` ... Returns the path it took."""
        raise NotImplementedError

    def entries(self, under: str = "") -> list[Entry]:
        """Every stored run below folder ``under`` ("" for all), sorted by path, without reading the runs."""
        raise NotImplementedError

    def read_text(self, path: str) -> str:
        """A stored run's JSON, byte for byte as added."""
        raise NotImplementedError

    def read_many(self, paths: list[str]) -> dict[str, str]:
        """path -> JSON text of several runs."""
        return {p: self.read_text(p) for p in paths}

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def replace(self, text: str, path: str, run: Run) -> None:
        """Put ``text`` in place of the run at ``path`` (``thin`` alone does this, on purpose)."""
        raise NotImplementedError

    def where(self, path: str) -> str:
        """How a message names a stored run."""
        return f"{self.location}#{path}"

    def read(self, path: str) -> Run:
        """A stored run, read back as the JSON it was added as."""
        return Run(Path(self.where(path)), json.loads(self.read_text(path)))

    def close(self) -> None:
        pass


class FolderStore(Store):
    """A results folder, today's layout: each run a file; the entries come from a per-machine cache file
    checked against each run file's size and modification time, so a file copied in by hand or changed by
    git is read again."""

    def __init__(self, root):
        self.root = Path(root)
        self.location = str(self.root)

    def where(self, path: str) -> str:
        return str(self.root / path)

    def add(self, text: str, path: str, run: Run, unique: bool = False) -> str:
        dest = publish(text, self.root / path, unique)
        return dest.relative_to(self.root).as_posix()

    def read_text(self, path: str) -> str:
        try:
            return (self.root / path).read_text(encoding="utf8")
        except OSError as exc:
            raise RunError(f"{self.root / path}: cannot read it ({exc.strerror or exc})") from None

    def read(self, path: str) -> Run:
        return load(self.root / path)

    def remove(self, path: str) -> None:
        (self.root / path).unlink()

    def replace(self, text: str, path: str, run: Run) -> None:
        dest = self.root / path
        _via_temporary(text, dest, lambda tmp: os.replace(tmp, dest))

    def run_files(self, under: str = "") -> list[Path]:
        """The run files below ``under``: every run file in a machine folder, not the raw runs of
        ``runs/`` (nptbench.schema.layout.RUNS), which are no machine's yet."""
        base = self.root / under
        if not base.is_dir():
            return []
        files = (p for p in base.rglob("*.json") if layout.is_run_file(p))
        return sorted(p for p in files if p.relative_to(self.root).parts[0] != layout.RUNS
                      and len(p.relative_to(self.root).parts) > 1)

    def entries(self, under: str = "") -> list[Entry]:
        out, cached, fresh = [], {}, {}
        files = self.run_files(under)
        for machine in sorted({p.relative_to(self.root).parts[0] for p in files}):
            cached.update(self._cache(machine))
        for p in files:
            rel = p.relative_to(self.root).as_posix()
            st = p.stat()
            hit = cached.get(rel)
            if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
                out.append(Entry.from_json(hit["entry"]))
                continue
            entry = Entry.of(rel, load(p), st.st_size)
            fresh.setdefault(rel.split("/", 1)[0], []).append(
                {"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "entry": entry.as_json()})
            out.append(entry)
        for machine, lines in fresh.items():
            self._remember(machine, lines)
        return out

    def _cache(self, machine: str) -> dict:
        """path -> the cache's newest line for it (a line cut short by a crash is passed over)."""
        found = {}
        try:
            text = (self.root / machine / INDEX_FILE).read_text(encoding="utf8")
        except OSError:
            return found
        for line in text.splitlines():
            try:
                item = json.loads(line)
                found[item["path"]] = item
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def _remember(self, machine: str, lines: list[dict]) -> None:
        """Append to the cache, one write per line (O_APPEND: writers at once never mix their lines); a
        folder that cannot be written just goes without."""
        try:
            fd = os.open(self.root / machine / INDEX_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError:
            return
        try:
            for line in lines:
                os.write(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
        finally:
            os.close(fd)


#: The table a PostgreSQL store keeps its runs in: made on first use, under an advisory lock so that
#: writers starting at once do not race to make it.
_TABLE = """
CREATE TABLE IF NOT EXISTS nptbench_runs (
    path text PRIMARY KEY,
    fingerprint text NOT NULL,
    profile text NOT NULL,
    conditions jsonb NOT NULL,
    cold_l2 boolean NOT NULL,
    datetime text NOT NULL,
    commit text NOT NULL,
    size bigint NOT NULL,
    body bytea NOT NULL,
    added timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE nptbench_runs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX IF NOT EXISTS nptbench_runs_set ON nptbench_runs (fingerprint, profile, datetime);
"""
_LOCK = 7_411_230_001  # pg_advisory_xact_lock key of the table's creation
_FIELDS = "path, fingerprint, profile, conditions, cold_l2, datetime, commit, size"


class PostgresStore(Store):
    """A PostgreSQL database: one row a run, its JSON byte for byte (zlib) beside the fields of
    :class:`Entry`; a path is the primary key, so two writers at once can never both take one."""

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise RunError(f"{redact(url)}: a PostgreSQL store needs the psycopg driver: "
                           "pip install 'nptbench[store]'") from None
        self.location = redact(url)
        try:
            self.conn = psycopg.connect(url, autocommit=True)
            if self.conn.execute("SELECT to_regclass('nptbench_runs')").fetchone()[0] is None:
                with self.conn.transaction():
                    self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                    self.conn.execute(_TABLE)
        except psycopg.Error as exc:
            raise RunError(f"{self.location}: cannot use the PostgreSQL store ({str(exc).strip()})") from None

    def add(self, text: str, path: str, run: Run, unique: bool = False) -> str:
        entry = Entry.of(path, run, len(text.encode()))
        body = zlib.compress(text.encode(), 6)
        folder, _, name = path.rpartition("/")
        for candidate in [name] + (_other_names(name) if unique else []):
            taken = self.conn.execute(
                f"INSERT INTO nptbench_runs ({_FIELDS}, body) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s) "
                "ON CONFLICT (path) DO NOTHING RETURNING path",
                (f"{folder}/{candidate}", entry.fingerprint, entry.profile, json.dumps(entry.as_json()["conditions"]),
                 entry.cold_l2, entry.datetime, entry.commit, entry.size, body)).fetchone()
            if taken:
                return taken[0]
        raise Taken(f"{self.where(path)} already exists; baselines are never overwritten")

    def entries(self, under: str = "") -> list[Entry]:
        rows = self.conn.execute(f"SELECT {_FIELDS} FROM nptbench_runs WHERE starts_with(path, %s) "
                                 'ORDER BY path COLLATE "C"',  # byte order, as the folder's paths sort
                                 (under.rstrip("/") + "/" if under else "",)).fetchall()
        return [Entry(p, fp, prof, tuple(tuple(c) for c in conds), cold, dt, commit, size)
                for p, fp, prof, conds, cold, dt, commit, size in rows]

    def read_text(self, path: str) -> str:
        row = self.conn.execute("SELECT body FROM nptbench_runs WHERE path = %s", (path,)).fetchone()
        if row is None:
            raise RunError(f"{self.where(path)}: no such run")
        return zlib.decompress(row[0]).decode()

    def read_many(self, paths: list[str]) -> dict[str, str]:
        """path -> JSON text of several runs, in one query."""
        rows = self.conn.execute("SELECT path, body FROM nptbench_runs WHERE path = ANY(%s)", (list(paths),))
        return {p: zlib.decompress(b).decode() for p, b in rows}

    def remove(self, path: str) -> None:
        self.conn.execute("DELETE FROM nptbench_runs WHERE path = %s", (path,))

    def replace(self, text: str, path: str, run: Run) -> None:
        self.conn.execute("UPDATE nptbench_runs SET body = %s, size = %s WHERE path = %s",
                          (zlib.compress(text.encode(), 6), len(text.encode()), path))

    def stored_bytes(self) -> int:
        """What the table and its index take on the server, in bytes."""
        return self.conn.execute("SELECT pg_total_relation_size('nptbench_runs')").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def redact(url: str) -> str:
    """A URL as messages print it: without its password."""
    head, sep, tail = url.partition("://")
    if sep and "@" in tail:
        auth, _, rest = tail.rpartition("@")
        return f"{head}://{auth.split(':', 1)[0]}@{rest}"
    return url


def is_database(location) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def locate(default=layout.RESULTS) -> str:
    """Where runs are kept when no ``--results`` is given: ``$NPTBENCH_RESULTS``, else ``default``."""
    return os.environ.get(ENV) or str(default)


def open_store(location) -> Store:
    """The store at ``location``: a ``postgresql://`` URL, else a folder."""
    return PostgresStore(str(location)) if is_database(location) else FolderStore(location)


# --- what the commands do with a store ----------------------------------------------------------------

def add_run(target: Store, run: Run, path: str, unique: bool = False, text: str | None = None) -> str:
    """Add ``run`` at ``path``, bounded first (:func:`thin_rounds`). ``text`` is its JSON as read, kept
    byte for byte when nothing had to be thinned; else it is written as :func:`as_text`."""
    if thin_rounds(run.data) or text is None:
        text = as_text(run.data)
    return target.add(text, path, run, unique)


def import_runs(target: Store, source, report=print) -> tuple[int, int, list[str]]:
    """Add every run file under folder (or file) ``source`` at its place (:func:`place`): returns (added,
    already there, refusals). A run already stored at its path with the same JSON is left as it is;
    with other JSON it is refused (never overwritten), as is a file that is not in a folder of its
    machine or cannot be read. Raw runs in ``runs/`` of a results folder are left out (promote them)."""
    source = Path(source)
    if not source.exists():
        raise RunError(f"{source}: no such file or folder")
    files = [source] if source.is_file() else FolderStore(source).run_files() if (source / layout.RUNS).is_dir() \
        else sorted(p for p in source.rglob("*.json") if layout.is_run_file(p))
    added = same = 0
    refused = []
    for f in files:
        try:
            text = f.read_text(encoding="utf8")
            run = load(f)
            path = place(run, f)
            try:
                add_run(target, run, path, text=text)
                added += 1
            except Taken:
                held = target.read_text(path)
                if held != text and json.loads(held) != _bounded(text):
                    raise RunError(f"{target.where(path)} already holds another run than {f}") from None
                same += 1
        except RunError as exc:
            refused.append(str(exc))
            report(f"refused: {exc}")
    return added, same, refused


def _bounded(text: str) -> dict:
    """The run as it would be stored: thinned (from a fresh copy of ``text``)."""
    fresh = json.loads(text)
    thin_rounds(fresh)
    return fresh


def export_runs(source: Store, dest, under: str = "") -> tuple[int, int]:
    """Write every stored run below ``under`` as a file at its path under folder ``dest``, never over a
    file: one already there with the same bytes is counted as such; another is a :class:`RunError`.
    Returns (written, already there)."""
    dest = Path(dest)
    entries = source.entries(under)
    written = same = 0
    for e in entries:
        text = source.read_text(e.path)
        target = dest / e.path
        if target.exists():
            if target.read_text(encoding="utf8") != text:
                raise RunError(f"{target} exists and holds another run than {source.where(e.path)}")
            same += 1
            continue
        publish(text, target)
        written += 1
    return written, same


def set_key(e: Entry) -> tuple:
    """The set a stored run belongs to: its folder, profile and conditions."""
    return (PurePosixPath(e.path).parent.as_posix(), e.profile, e.conditions)


def to_prune(entries: list[Entry], keep: int | None = None, older_than_days: float | None = None,
             now: float | None = None) -> list[Entry]:
    """The runs :func:`prune` removes: beyond the newest ``keep`` of each set (:func:`set_key`), and those
    measured more than ``older_than_days`` ago (by their datetime; one without is never pruned by age)."""
    out = []
    if keep is not None:
        sets: dict = {}
        for e in entries:
            sets.setdefault(set_key(e), []).append(e)
        for members in sets.values():
            out += sorted(members, key=lambda e: (e.datetime, e.path))[:-keep or None] if keep else members
    if older_than_days is not None:
        cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((now or time.time()) - older_than_days * 86400))
        out += [e for e in entries if e.datetime and e.datetime < cutoff]
    return list({e.path: e for e in out}.values())


def prune(target: Store, under: str = "", keep: int | None = None, older_than_days: float | None = None,
          dry_run: bool = False) -> list[Entry]:
    """Remove the runs :func:`to_prune` names below ``under`` (none with ``dry_run``); returns them."""
    doomed = to_prune(target.entries(under), keep, older_than_days)
    if not dry_run:
        for e in doomed:
            target.remove(e.path)
    return doomed


def thin(target: Store, keep: int, under: str = "") -> list[str]:
    """Keep at most ``keep`` raw rounds per benchmark in every stored run below ``under``; returns the
    paths of the runs that lost rounds."""
    out = []
    for e in target.entries(under):
        run = target.read(e.path)
        if thin_rounds(run.data, keep):
            target.replace(as_text(run.data), e.path, run)
            out.append(e.path)
    return out


# --- for the commands that read runs as files ---------------------------------------------------------

def choose_set(entries: list[Entry], fp: str, profile: str, select: str | None = None,
               conditions: tuple | None = None, cold_l2: bool | None = None) -> list[Entry]:
    """A machine's baseline set from listed entries, as nptbench.schema.runs.baseline_set chooses it from
    files: in the machine's folder, of ``profile``, with ``select`` in the name, under ``conditions`` and
    ``cold_l2`` when given; oldest first. A run of another machine in the folder is a :class:`RunError`."""
    found = []
    for e in entries:
        if not e.in_set or not e.path.startswith(fp + "/") or (select and select not in e.name):
            continue
        if e.fingerprint != fp:
            raise RunError(f"{e.path}: measured on {e.fingerprint}, not on this machine ({fp}); a baseline set "
                           "holds this machine's runs only")
        if e.profile != profile or (conditions is not None and e.conditions != tuple(conditions)):
            continue
        if cold_l2 is not None and e.cold_l2 != cold_l2:
            continue
        found.append(e)
    return sorted(found, key=lambda e: (e.datetime, e.name))


def cache_dir(location: str) -> Path:
    """Where runs of a database are written as files for the commands that read files: one folder per
    store under ``$NPTBENCH_STORE_CACHE`` (default ``~/.cache/nptbench/store``)."""
    base = Path(os.environ.get("NPTBENCH_STORE_CACHE") or Path.home() / ".cache" / "nptbench" / "store")
    return base / f"{zlib.crc32(redact(location).encode()):08x}"


def local_files(location, entries: list[Entry], target: Store | None = None) -> list[Path]:
    """The files of ``entries``: in a folder store the runs themselves; from a database, copies written
    (once, then reused: a stored run never changes but by ``thin``, which a size check catches) under
    :func:`cache_dir`, at the same relative paths."""
    if not is_database(location):
        return [Path(location) / e.path for e in entries]
    base = cache_dir(str(location))
    missing = [e for e in entries if not _cached(base / e.path, e.size)]
    if missing:
        own = target is None
        target = target or open_store(location)
        try:
            texts = target.read_many([e.path for e in missing])
        finally:
            if own:
                target.close()
        for e in missing:
            dest = base / e.path
            _via_temporary(texts[e.path], dest, lambda tmp, dest=dest: os.replace(tmp, dest))
    return [base / e.path for e in entries]


def _cached(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def find_set(location, fp: str, profile: str, select: str | None = None, conditions: tuple | None = None,
             cold_l2: bool | None = None) -> list[Path]:
    """The baseline set of a machine in the store at ``location`` as files, oldest first: for a folder the
    same paths nptbench.schema.runs.baseline_set returns; for a database, local copies
    (:func:`local_files`). The gate (``--benchmark-compare``), ``compare`` and ``baseline`` can call this
    where they call baseline_set, with ``locate(results)`` as ``location``."""
    target = open_store(location)
    try:
        chosen = choose_set(target.entries(fp), fp, profile, select, conditions, cold_l2)
        return local_files(location, chosen, target)
    finally:
        target.close()


def local_runs(location, under: str = "") -> list[Path]:
    """Every run below folder ``under`` ("" for all) of the store at ``location``, as files: the runs
    themselves in a folder store, local copies from a database (:func:`local_files`). Only the runs the store
    holds now: a copy of a run pruned since is not among them."""
    target = open_store(location)
    try:
        return local_files(location, target.entries(under), target)
    finally:
        target.close()


def run_paths(arg) -> list:
    """A command's argument naming saved runs, as paths: a file or folder as it is; a database URL, with an
    optional ``#<folder>`` (``postgresql://host/db#<fingerprint>``, a machine's set), as local copies of the
    runs it holds below that folder (:func:`local_runs`). What compare and report read runs through."""
    if not is_database(arg):
        return [Path(arg)]
    url, _, under = str(arg).partition("#")
    found = local_runs(url, under)
    if not found:
        raise RunError(f"{redact(url)}#{under}: no run stored there")
    return found


def local_folder(location, under: str) -> Path:
    """Folder ``under`` of the store at ``location`` (``<fingerprint>/history/runs``, a machine's whole
    folder) as a folder of files, for ``history``, ``report`` and ``bisect``, which read folders: the folder
    itself in a folder store, a local copy of its runs from a database."""
    if not is_database(location):
        return Path(location) / under
    target = open_store(location)
    try:
        local_files(location, target.entries(under), target)
    finally:
        target.close()
    return cache_dir(str(location)) / under
