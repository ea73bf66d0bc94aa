"""``audiomill repo …``: music projects from the command line, on the local store.

The commands open the data folder's database and blob store directly (no server needed,
like ``users`` and ``keys``) and call audiomill.vcs, the services behind /api/v1/repos,
acting as the built-in local user or as ``--user NAME`` with that user's rights. A
repository is named by its id or by its name among your repositories; a revision by a
commit id, or (with ``--repo``) a branch or tag name. Data goes to stdout (ids, logs,
diffs; ``--json`` prints the API's shapes), messages to stderr.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from audiomill.config import get_settings
from audiomill.errors import AudiomillError, Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:  # the database layers load when a repo command runs, not with every command
    from sqlalchemy.orm import Session

    from audiomill.runtime import Runtime
    from audiomill.store.tables import Repository, User

repo_app = typer.Typer(
    help="Music projects under version control: repositories of commits of stems (no server needed).",
    no_args_is_help=True,
)
console = Console(stderr=True)

UserOption = Annotated[
    str | None, typer.Option("--user", "-u", help="act as this user, with their rights (default: the local user)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the result as JSON on stdout (the API's shapes)")]
RepoOption = Annotated[
    str | None,
    typer.Option("--repo", "-r", help="repository (id or name): then revisions may be branch or tag names too"),
]
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


@contextmanager
def _user_errors() -> Iterator[None]:
    """An AudiomillError is the user's to fix: print its message, exit 1, no traceback."""
    try:
        yield
    except AudiomillError as exc:
        raise _exit(exc.message) from None


def _exit(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


def _runtime() -> Runtime:
    from audiomill.runtime import build_runtime

    return build_runtime(get_settings())


def _acting_user(session: Session, username: str | None) -> User:
    from sqlalchemy import select

    from audiomill.jobs.service import ensure_local_user
    from audiomill.store.tables import User

    if username is None:
        return ensure_local_user(session)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} not found (see `audiomill users list`)")
    if not user.is_active:
        raise Forbidden(f"user {username!r} is disabled")
    return user


def _repo(session: Session, user: User, ref: str) -> Repository:
    """A repository by id (any the user may read), else by name among the user's own and
    those they collaborate on."""
    from audiomill.vcs import access, service

    if _UUID.match(ref):
        try:
            return access.readable_repo(session, user, ref)
        except NotFound:
            pass
    named = [repo for repo in service.list_repos(session, user) if repo.name == ref]
    if len(named) > 1:
        ids = ", ".join(repo.uuid for repo in named)
        raise InvalidInput(f"{len(named)} of your repositories are called {ref!r}; name one by its id: {ids}")
    if not named:
        raise NotFound(f"repository {ref!r} not found (see `audiomill repo list`)")
    return named[0]


def _repo_of(session: Session, user: User, revision: str, repo_ref: str | None) -> Repository:
    """The repository a revision is read in: --repo's, else the one holding the commit id."""
    from audiomill.vcs import service

    if repo_ref is not None:
        return _repo(session, user, repo_ref)
    try:
        return service.find_commit(session, user, revision)[0]
    except NotFound:
        raise NotFound(
            f"commit {revision} not found; to name a branch or tag, give its repository with --repo"
        ) from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _short(uuid: str | None) -> str:
    return uuid[:8] if uuid else "-"


# ------------------------------------------------------------------------------------
# repositories


@repo_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="the song's name")],
    description: Annotated[str, typer.Option(help="what the song is")] = "",
    genre: Annotated[str, typer.Option(help="its genre")] = "",
    public: Annotated[bool, typer.Option("--public", help="readable and forkable by every signed-in user")] = False,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a repository (branch `main`, no commits yet); prints its id."""
    from audiomill.api.routes.repos import repo_public
    from audiomill.vcs import service

    with _user_errors(), _runtime().db.session() as session:
        repo = service.create_repo(session, _acting_user(session, user), name, description, public, genre)
        if as_json:
            _print_json(repo_public(session, repo).model_dump(mode="json"))
        else:
            console.print(f"created repository {repo.name!r} ({'public' if public else 'private'})")
            print(repo.uuid)


@repo_app.command("list")
def list_(
    public: Annotated[bool, typer.Option("--public", help="also list others' public repositories")] = False,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your repositories (and those you collaborate on)."""
    from audiomill.api.routes.repos import repo_public
    from audiomill.store.tables import Repository
    from audiomill.vcs import service

    with _user_errors(), _runtime().db.session() as session:
        repos = service.list_repos(session, _acting_user(session, user), include_public=public)
        if as_json:
            _print_json([repo_public(session, repo).model_dump(mode="json") for repo in repos])
            return
        table = Table("id", "name", "owner", "public", "genre", "forked from", "created")
        for repo in repos:
            origin = session.get(Repository, repo.forked_from_id) if repo.forked_from_id else None
            table.add_row(
                repo.uuid,
                repo.name,
                service.owner_of(session, repo).username,
                "yes" if repo.is_public else "",
                repo.genre,
                origin.name if origin else "",
                repo.created_at.isoformat(timespec="seconds"),
            )
        Console(width=200).print(table)


@repo_app.command("fork")
def fork(
    repo: Annotated[str, typer.Argument(help="repository to fork (id or name)")],
    name: Annotated[str, typer.Argument(help="the fork's name")],
    description: Annotated[str | None, typer.Option(help="default: 'Fork of <name>'")] = None,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fork a repository: its history so far is shared (no audio copied); prints the fork's id."""
    from audiomill.api.routes.repos import repo_public
    from audiomill.vcs import service

    with _user_errors(), _runtime().db.session() as session:
        acting = _acting_user(session, user)
        source = _repo(session, acting, repo)
        made = service.fork_repo(session, acting, source.uuid, name, description=description)
        if as_json:
            _print_json(repo_public(session, made).model_dump(mode="json"))
        else:
            console.print(f"forked {source.name!r} as {made.name!r}")
            print(made.uuid)


@repo_app.command("delete")
def delete(
    repo: Annotated[str, typer.Argument(help="repository to delete (id or name)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a repository you own; its forks keep their history.

    Audio that nothing else holds (another commit, a job, your uploaded files) is released."""
    from audiomill.vcs.removal import delete_repo

    with _user_errors():
        runtime = _runtime()
        with runtime.db.session() as session:
            acting = _acting_user(session, user)
            target = _repo(session, acting, repo)
            repo_uuid, name = target.uuid, target.name
        if not yes and not typer.confirm(f"Delete repository {name!r} ({repo_uuid}) and its commits?"):
            raise typer.Exit(code=1)
        done = delete_repo(runtime, acting, repo_uuid)
    if as_json:
        _print_json(asdict(done))
        return
    said = f"deleted repository {name!r} ({_count(done.commits_deleted, 'commit')})"
    said += f"; released {_count(done.assets_released, 'file')} ({_count(done.blobs_deleted, 'blob')} freed)"
    if done.heir_id:
        lives = "lives" if done.commits_handed_over == 1 else "live"
        said += f"; {_count(done.commits_handed_over, 'commit')} its forks share now {lives} in fork {done.heir_id}"
    console.print(said)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# ------------------------------------------------------------------------------------
# history


@repo_app.command("log")
def log(
    repo: Annotated[str, typer.Argument(help="repository (id or name)")],
    branch: Annotated[str | None, typer.Option(help="only commits this branch's head reaches")] = None,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """The history, newest first, with the branch heads and tags on their commits."""
    from audiomill.api.schemas import as_utc
    from audiomill.vcs import service

    with _user_errors(), _runtime().db.session() as session:
        acting = _acting_user(session, user)
        target = _repo(session, acting, repo)
        _, entries = service.history(session, acting, target.uuid, branch)
        _, refs = service.list_branches(session, acting, target.uuid)
        _, tags = service.list_tags(session, acting, target.uuid)
        labels: dict[str, list[str]] = {}
        for ref, head in refs:
            if head is not None:
                labels.setdefault(head.uuid, []).append(ref.name)
        for tag, tagged in tags:
            labels.setdefault(tagged.uuid, []).append(f"tag: {tag.name}")
        if as_json:
            _print_json(
                {
                    "repo_id": target.uuid,
                    "commits": [
                        {
                            "id": e.uuid,
                            "parent_id": e.parent_uuid,
                            "merge_parent_id": e.merge_parent_uuid,
                            "message": e.message,
                            "bpm": e.bpm,
                            "key_signature": e.key_signature,
                            "created_at": as_utc(e.created_at),
                            "refs": labels.get(e.uuid, []),
                        }
                        for e in reversed(entries)
                    ],
                }
            )
            return
        if not entries:
            console.print(f"repository {target.name!r} has no commits yet")
        for e in reversed(entries):
            facts = [e.created_at.strftime("%Y-%m-%d %H:%M")]
            if e.bpm is not None:
                facts.append(f"{e.bpm:g} bpm")
            if e.key_signature:
                facts.append(e.key_signature)
            if e.merge_parent_uuid:
                facts.append(f"merge of {_short(e.parent_uuid)} + {_short(e.merge_parent_uuid)}")
            refs_text = f" ({', '.join(labels[e.uuid])})" if e.uuid in labels else ""
            print(f"{e.uuid}{refs_text}  {'  '.join(facts)}  {e.message.splitlines()[0] if e.message else ''}")


# ------------------------------------------------------------------------------------
# commits


def _stem_files(files: list[Path], stem_options: list[str]) -> list[tuple[str, Path]]:
    """(stem type, path): FILES are named by their file name (drums.wav -> drums),
    --stem NAME=PATH by NAME."""
    from audiomill.vcs import service

    pairs: list[tuple[str, Path]] = []
    for path in files:
        try:
            pairs.append((service.check_stem_type(path.stem), path))
        except InvalidInput:
            raise InvalidInput(
                f"{path.name}: its name is not a stem type; give it one with --stem NAME={path}"
            ) from None
    for option in stem_options:
        name, sep, raw_path = option.partition("=")
        if not sep or not name.strip() or not raw_path:
            raise InvalidInput(f"--stem {option!r}: write NAME=PATH, e.g. --stem drums=beat.wav")
        pairs.append((service.check_stem_type(name), Path(raw_path)))
    for _, path in pairs:
        if not path.is_file():
            raise NotFound(f"{path}: no such file")
    return pairs


@repo_app.command("commit")
def commit(
    repo: Annotated[str, typer.Argument(help="repository (id or name)")],
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="stem audio files, each named after its stem type (drums.wav, bass.flac, ...)"),
    ] = None,
    stem: Annotated[
        list[str] | None, typer.Option("--stem", help="NAME=PATH: a stem whose file name is not its type (repeat)")
    ] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="what changed")] = "",
    branch: Annotated[str | None, typer.Option(help="branch to commit on (default: the default branch)")] = None,
    parent: Annotated[str | None, typer.Option(help="parent commit id (default: the branch's head)")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="stem type to take out (repeat)")] = None,
    bpm: Annotated[float | None, typer.Option(min=1, max=999, help="tempo (default: the parent's)")] = None,
    key: Annotated[str | None, typer.Option(help="key signature, e.g. 'A minor' (default: the parent's)")] = None,
    no_inherit: Annotated[
        bool, typer.Option("--no-inherit", help="start from no stems instead of the parent's")
    ] = False,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Commit stem files on a branch; prints the new commit's id.

    The commit holds the parent's stems with these files put in (and --remove taken out).
    Each file's audio is stored once, however many commits use it."""
    from audiomill.api.routes.repos import commit_public
    from audiomill.jobs.service import Upload
    from audiomill.vcs import access, service

    with _user_errors():
        pairs = _stem_files(list(files or []), list(stem or []))
        if not pairs and not remove and not message:
            raise InvalidInput("nothing to commit: give stem files, --stem NAME=PATH, --remove or a --message")
        runtime = _runtime()
        with runtime.db.session() as session:
            acting = _acting_user(session, user)
            target = _repo(session, acting, repo)
            access.writable_repo(session, acting, target.uuid)
            sources = []
            for stem_type, path in pairs:
                with path.open("rb") as stream:
                    asset = service.store_stem_audio(
                        runtime, session, acting, Upload(stream=stream, filename=path.name)
                    )
                sources.append((service.StemSource(stem_type, asset_id=asset.uuid), asset))
            outcome = service.commit_to(
                session,
                target,
                acting,
                service.CommitMeta(message, bpm, key),
                sources,
                [service.check_stem_type(name) for name in remove or []],
                parent,
                branch,
                not no_inherit,
            )
            if as_json:
                _print_json(commit_public(session, target, outcome.commit, outcome.branch).model_dump(mode="json"))
                return
            where = f"on {outcome.branch}" if outcome.branch else f"beside the branch heads (parent {_short(parent)})"
            stems = ", ".join(s.stem_type for s in outcome.commit.stems) or "no stems"
            console.print(f"committed {where}: {stems}")
            print(outcome.commit.uuid)


@repo_app.command("diff")
def diff(
    a: Annotated[str | None, typer.Argument(help="the 'before' revision; alone: what this commit changed")] = None,
    b: Annotated[str | None, typer.Argument(help="the 'after' revision")] = None,
    repo: RepoOption = None,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """What changed between two versions, stem by stem, measured from the audio.

    Per stem: added, removed, unchanged or changed, with the loudness and length change and
    the time ranges that differ. With one revision: what it changed from its parent; with
    none (and --repo): what the default branch's last commit changed."""
    from audiomill.vcs import compare

    with _user_errors():
        if a is None and repo is None:
            raise InvalidInput("name the revisions to compare, or the repository with --repo")
        runtime = _runtime()
        with runtime.db.session() as session:
            acting = _acting_user(session, user)
            target = _repo_of(session, acting, a or "", repo) if a is not None else _repo(session, acting, str(repo))
            before, after = (a, b) if b is not None else (None, a)
            result = compare.diff_commits(runtime, session, acting, target.uuid, before, after)
            if as_json:
                from audiomill.api.routes.repos import diff as diff_route

                _print_json(
                    diff_route(target.uuid, runtime, acting, session, result.a.uuid, result.b.uuid).model_dump(
                        mode="json"
                    )
                )
                return
            print(f"a {result.a.uuid}  {result.a.message}")
            print(f"b {result.b.uuid}  {result.b.message}")
            for stem_diff in result.stems:
                print(f"  {stem_diff.stem_type:<12} {stem_diff.status:<9} {_change_text(stem_diff.change)}".rstrip())


def _change_text(change: Any) -> str:
    if change is None:
        return ""
    parts = []
    if change.loudness_change_db is not None:
        parts.append(
            f"loudness {change.loudness_a_lufs:g} -> {change.loudness_b_lufs:g} LUFS ({change.loudness_change_db:+g} dB)"
        )
    if change.length_change_seconds:
        parts.append(f"length {change.length_change_seconds:+g} s")
    ranges = ", ".join(f"{r.start_seconds:g}-{r.end_seconds:g} s" for r in change.differing_ranges)
    parts.append(f"differs at {ranges}" if ranges else "no audible difference")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------
# branches, tags, merge, revert


@repo_app.command("branch")
def branch(
    repo: Annotated[str, typer.Argument(help="repository (id or name)")],
    name: Annotated[str | None, typer.Argument(help="branch to create (none: list the branches)")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="commit id or branch it starts at (default: the default branch)")
    ] = None,
    delete_it: Annotated[bool, typer.Option("--delete", "-d", help="delete the branch NAME")] = False,
    user: UserOption = None,
) -> None:
    """List branches, create one (from any commit or branch) or delete one."""
    from audiomill.vcs import service

    with _user_errors(), _runtime().db.session() as session:
        acting = _acting_user(session, user)
        target = _repo(session, acting, repo)
        if name is None:
            _, refs = service.list_branches(session, acting, target.uuid)
            for ref, head in refs:
                marker = "*" if ref.name == target.default_branch else " "
                print(f"{marker} {ref.name:<24} {head.uuid if head else '(no commits yet)'}")
        elif delete_it:
            service.delete_branch(session, acting, target.uuid, name)
            console.print(f"deleted branch {name!r}")
        else:
            is_branch = start is not None and any(
                ref.name == start for ref, _ in service.list_branches(session, acting, target.uuid)[1]
            )
            _, ref, head = service.create_branch(
                session,
                acting,
                target.uuid,
                name,
                from_commit=None if is_branch else start,
                from_branch=start if is_branch else None,
            )
            console.print(f"created branch {ref.name!r} at {head.uuid if head else 'no commit'}")


@repo_app.command("tag")
def tag(
    repo: Annotated[str, typer.Argument(help="repository (id or name)")],
    name: Annotated[str | None, typer.Argument(help="tag to create (none: list the tags)")] = None,
    commit_id: Annotated[str | None, typer.Option("--commit", help="default: the default branch's head")] = None,
    message: Annotated[str, typer.Option("--message", "-m")] = "",
    delete_it: Annotated[bool, typer.Option("--delete", "-d", help="delete the tag NAME")] = False,
    user: UserOption = None,
) -> None:
    """List tags, fix a name to a commit, or delete a tag."""
    from audiomill.vcs import service

    with _user_errors(), _runtime().db.session() as session:
        acting = _acting_user(session, user)
        target = _repo(session, acting, repo)
        if name is None:
            for found, tagged in service.list_tags(session, acting, target.uuid)[1]:
                print(f"{found.name:<24} {tagged.uuid}  {found.message}".rstrip())
        elif delete_it:
            service.delete_tag(session, acting, target.uuid, name)
            console.print(f"deleted tag {name!r}")
        else:
            _, made, tagged = service.create_tag(session, acting, target.uuid, name, commit_id, message)
            console.print(f"tagged {tagged.uuid} as {made.name!r}")


@repo_app.command("merge")
def merge(
    repo: Annotated[str, typer.Argument(help="repository (id or name)")],
    source: Annotated[str, typer.Argument(help="branch merged in")],
    into: Annotated[str | None, typer.Option("--into", help="branch merged into (default: the default branch)")] = None,
    take: Annotated[
        list[str] | None,
        typer.Option("--take", help="STEM=source|target|base: how to settle a conflicted stem (repeat)"),
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    user: UserOption = None,
) -> None:
    """Merge a branch stem by stem; a stem both sides changed is a conflict to settle with --take."""
    from audiomill.vcs import service

    resolutions: dict[str, Any] = {}
    for option in take or []:
        stem_type, _, side = option.partition("=")
        if side not in ("source", "target", "base"):
            raise _exit(f"--take {option!r}: write STEM=source, STEM=target or STEM=base")
        resolutions[stem_type.strip().lower()] = side
    with _user_errors(), _runtime().db.session() as session:
        acting = _acting_user(session, user)
        target = _repo(session, acting, repo)
        try:
            outcome = service.merge_branches(session, acting, target.uuid, source, into, resolutions, message)
        except service.MergeConflict as conflict:
            stems = " ".join(f"--take {c.stem_type}=source|target|base" for c in conflict.conflicts)
            raise service.MergeConflict(
                f"{conflict.message}. Run it again with {stems}",
                conflict.conflicts,
                conflict.base,
                conflict.target,
                conflict.source,
            ) from None
        taken = ", ".join(f"{stem_type}: {side}" for stem_type, side in outcome.taken.items())
        console.print(f"{outcome.status.replace('_', '-')}{f' ({taken})' if taken else ''}")
        print(outcome.head.uuid)


@repo_app.command("revert")
def revert(
    repo: Annotated[str, typer.Argument(help="repository (id or name)")],
    commit_id: Annotated[str, typer.Argument(help="the commit whose change to undo")],
    branch_name: Annotated[str | None, typer.Option("--branch", help="default: the default branch")] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    user: UserOption = None,
) -> None:
    """A new commit undoing what a commit did to its stems; prints its id."""
    from audiomill.vcs import service

    with _user_errors(), _runtime().db.session() as session:
        acting = _acting_user(session, user)
        target = _repo(session, acting, repo)
        outcome, restored = service.revert_commit(session, acting, target.uuid, commit_id, branch_name, message)
        console.print(f"reverted {', '.join(restored) or 'nothing'} on {outcome.branch}")
        print(outcome.commit.uuid)


# ------------------------------------------------------------------------------------
# mixdown


def _per_stem(options: list[str], what: str, low: float, high: float) -> dict[str, float]:
    values: dict[str, float] = {}
    for option in options:
        name, sep, raw = option.partition("=")
        try:
            value = float(raw) if sep else None
        except ValueError:
            value = None
        if value is None or not name.strip():
            raise InvalidInput(f"--{what} {option!r}: write STEM=NUMBER, e.g. --{what} bass=-3")
        if not low <= value <= high:
            raise InvalidInput(f"--{what} {option!r}: {what} must lie in [{low:g}, {high:g}]")
        values[name.strip().lower()] = value
    return values


@repo_app.command("mixdown")
def mixdown(
    revision: Annotated[str, typer.Argument(help="commit id (or, with --repo, a branch or tag)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write; its extension picks the format")],
    repo: RepoOption = None,
    gain: Annotated[list[str] | None, typer.Option(help="STEM=DB gain, -60..24 (repeat)")] = None,
    pan: Annotated[list[str] | None, typer.Option(help="STEM=BALANCE, -1 left .. +1 right (repeat)")] = None,
    mute: Annotated[list[str] | None, typer.Option(help="stem type to leave out (repeat)")] = None,
    master: Annotated[
        bool, typer.Option("--master/--no-master", help="loudness target + true-peak limiter, or the plain sum")
    ] = True,
    target_lufs: Annotated[float, typer.Option(min=-40, max=-5, help="loudness of the master")] = -14.0,
    ceiling_dbtp: Annotated[float, typer.Option(min=-9, max=0, help="highest true peak of the master")] = -1.0,
    sample_rate: Annotated[int, typer.Option(min=8000, max=192000, help="sample rate of the mix, in Hz")] = 44100,
    bit_depth: Annotated[
        int, typer.Option("--bit-depth", help="wav sample format: 16 or 24-bit integer, 32-bit float")
    ] = 16,
    bitrate: Annotated[int, typer.Option("--bitrate", min=32, max=320, help="mp3/m4a bitrate, kbps")] = 320,
    record: Annotated[
        bool,
        typer.Option("--record/--no-record", help="make the mix the commit's render (when you may write to it)"),
    ] = True,
    user: UserOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mix a commit's stems into one mastered audio file.

    Per-stem gain, pan and mute; mastered to a loudness target under a true-peak ceiling
    (or the plain sum with --no-master). The mix becomes the commit's render, as a mixdown
    job's would."""
    from audiomill.audio._media_types import format_for_extension
    from audiomill.cli.kind_commands import print_result, run_engine
    from audiomill.engines.base import kind_spec
    from audiomill.jobs.service import Upload, validate_params
    from audiomill.store.tables import User
    from audiomill.vcs import access, service

    with _user_errors():
        output_format = format_for_extension(out.suffix)
        if output_format is None:
            raise InvalidInput(f"{out.name}: end the file name in .wav, .flac, .mp3 or .m4a to pick its format")
        runtime = _runtime()
        with runtime.db.session() as session:
            acting = _acting_user(session, user)
            target = _repo_of(session, acting, revision, repo)
            chosen = service.resolve_revision(session, target, revision)
            stems = service.stems_by_type(chosen)
            if not stems:
                raise InvalidInput(f"commit {chosen.uuid} has no stems to mix")
            blobs = {name: stem.asset.sha256 for name, stem in stems.items()}
            writable = access.can_write(session, target, acting)
            repo_uuid, commit_uuid, user_id = target.uuid, chosen.uuid, acting.id
        mix: dict[str, dict[str, Any]] = {}
        for what, values in (
            ("gain_db", _per_stem(gain or [], "gain", -60, 24)),
            ("pan", _per_stem(pan or [], "pan", -1, 1)),
        ):
            for name, value in values.items():
                mix.setdefault(name, {})[what] = value
        for name in mute or []:
            mix.setdefault(name.strip().lower(), {})["mute"] = True
        params = validate_params(
            "mixdown",
            {
                "stems": sorted(blobs),
                "mix": mix,
                "master": master,
                "target_lufs": target_lufs,
                "ceiling_dbtp": ceiling_dbtp,
                "sample_rate": sample_rate,
                "output_format": output_format,
                "wav_bit_depth": bit_depth,
                "bitrate_kbps": bitrate,
            },
        )
        inputs = {name: runtime.blobs.path(digest) for name, digest in blobs.items()}
        with tempfile.TemporaryDirectory(prefix="mixdown-", dir=runtime.settings.work_dir) as scratch:
            result, outputs = run_engine(
                kind_spec("mixdown"), params, inputs, Path(scratch), f"mixdown {_short(commit_uuid)}", not as_json
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(outputs["mix"], out)
            render_url = None
            if record and writable:
                with runtime.db.session() as session, outputs["mix"].open("rb") as stream:
                    owner = session.get(User, user_id)
                    assert owner is not None
                    asset = service.store_stem_audio(
                        runtime, session, owner, Upload(stream=stream, filename=f"mixdown{out.suffix.lower()}")
                    )
                    found = access.repo_by_uuid(session, repo_uuid)
                    assert found is not None
                    rendered = service.commit_in_repo(session, found, commit_uuid)
                    service.set_render(session, found, rendered, asset)
                    render_url = service.render_url(found, rendered)
    if as_json:
        _print_json({"commit_id": commit_uuid, "out": str(out), "render_url": render_url, "result": result})
        return
    print_result(result, {"mix": out})
    if render_url:
        console.print(f"  render of commit {commit_uuid}: {render_url}")


__all__ = ["repo_app"]
