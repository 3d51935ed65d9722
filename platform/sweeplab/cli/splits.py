"""``sweeplab splits``: each split's size and composition, and a leak check across splits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from sweeplab.cli._app import app
from sweeplab.cli._common import WorkspaceOpt
from sweeplab.cli._common import console as make_console

__all__ = ["overlaps", "splits"]


def overlaps(ds: Any, manifest: Any) -> list[str]:
    """Examples whose content (a hash of the row's bytes) is in two splits, as
    ``"digits:12 (train) = digits:40 (dev)"``; empty when the splits are disjoint."""
    from sweeplab.data import row_hashes

    hashes = row_hashes(ds.X)
    first: dict[str, tuple[int, str]] = {}
    found = []
    for name, idx in manifest.splits.items():
        for i in idx.tolist():
            h = hashes[i]
            if h in first and first[h][1] != name:
                j, other = first[h]
                found.append(f"{ds.ids[j]} ({other}) = {ds.ids[i]} ({name})")
            first.setdefault(h, (i, name))
    return found


@app.command(
    epilog="Example: sweeplab splits projects/digits_mismatch.yaml   |   sweeplab splits projects/digits_mlp.yaml --sweep NAME"
)
def splits(
    project: Path = typer.Argument(..., help="The project file (YAML)."),
    sweep: str | None = typer.Option(
        None,
        "--sweep",
        help="Check the split manifest stored with this sweep instead of building the splits.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON only."),
    workspace: Path | None = WorkspaceOpt,
) -> None:
    """Print each split's size and its composition by domain and class, and check that no
    example (by content hash) appears in two splits. Exits 1 when one does."""
    from rich.table import Table

    from sweeplab.cli._common import path_arg
    from sweeplab.data import SplitManifest, build_splits, load_dataset
    from sweeplab.errors import UserError
    from sweeplab.tasks import load_project

    pf = load_project(path_arg(project))
    ds = load_dataset(pf.project.data, base_dir=pf.base_dir)
    if sweep is not None:
        from sweeplab.workspace import Workspace

        ws = Workspace.at(workspace)
        ws.read_sweep(sweep)  # a clear error for an unknown sweep
        manifest = SplitManifest.from_json(ws.sweep_dir(sweep) / "splits.json")
        source = f"sweep {sweep}"
    else:
        manifest = build_splits(ds, pf.project.data)
        source = f"built from {project} (seed {pf.project.data.seed})"
    try:
        duplicates = manifest.check_disjoint(ds)  # index overlap raises; identical rows listed
        leaks = overlaps(ds, manifest)
    except UserError as exc:
        leaks, duplicates = [exc.message], []
    leaks = sorted(set(leaks) | set(duplicates))
    composition = manifest.composition(ds)
    n_hashes = sum(len(v) for v in manifest.splits.values())

    if as_json:
        comp = composition.reset_index()
        doc = {
            "dataset": ds.name,
            "source": source,
            "sizes": manifest.sizes(),
            "composition": json.loads(comp.to_json(orient="records")),
            "disjoint": not leaks,
            "overlaps": leaks,
            "domain_names": ds.domain_names,
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        c = make_console()
        c.print(
            Text.assemble((ds.name, "bold"), f": {len(ds)} examples; splits {source}"),
            soft_wrap=True,
        )
        sizes = Table(title="sizes", title_justify="left")
        for col in ("split", "examples", "share"):
            sizes.add_column(col, justify="left" if col == "split" else "right")
        total = sum(manifest.sizes().values())
        for name, n in manifest.sizes().items():
            sizes.add_row(name, str(n), f"{100 * n / total:.1f}%")
        c.print(sizes)
        table = Table(title="composition by split, domain and class", title_justify="left")
        index = list(composition.index.names)
        for pos, col in enumerate(index):
            values = composition.index.get_level_values(pos).astype(str)
            table.add_column(col, no_wrap=True, min_width=max(len(col), *map(len, values)))
        widths = [len(col) for col in index]
        for col in map(str, composition.columns):
            width = max(len(col), *(len(str(int(v))) for v in composition[col]))
            table.add_column(col, justify="right", no_wrap=True, min_width=width)
            widths.append(width)
        for pos, _ in enumerate(index):
            widths[pos] = max(
                widths[pos], *map(len, composition.index.get_level_values(pos).astype(str))
            )
        # wide enough for every class column: a truncated count is worse than a wide line
        c.width = max(c.width, sum(w + 3 for w in widths) + 1)
        for key, row in composition.iterrows():
            keys = [str(k) for k in (key if isinstance(key, tuple) else [key])]
            table.add_row(*keys, *(str(int(v)) for v in row.tolist()))
        c.print(table)
        if leaks:
            c.print(f"✗ {len(leaks)} example(s) appear in two splits:", style="bold red")
            for line in leaks[:20]:
                c.print(f"  {line}")
        else:
            c.print(
                Text.assemble(
                    ("✓ no example appears in two splits", "bold green"),
                    f" ({n_hashes} examples, content hashes compared)",
                )
            )
    if leaks:
        raise typer.Exit(1)
