"""`sweeplab runs --lineage`: the chain of sweeps (`next` / `refine`), root first."""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["print_lineage"]


def print_lineage(
    sweep: str | None,
    workspace: Path | None,
    tracking_uri: str | None,
    *,
    csv: bool = False,
    as_json: bool = False,
) -> None:
    """Each sweep of the chain: how it was made, its best error with the 95 % interval, and
    whether it beats its parent beyond noise."""
    from sweeplab.reports._lineage import chain_rows, lineage

    chain = lineage(sweep, workspace=workspace, tracking_uri=tracking_uri)
    rows = chain_rows(chain)
    if csv:
        import pandas as pd

        typer.echo(pd.DataFrame(rows).to_csv(index=False), nl=False)
        return
    if as_json:
        typer.echo(json.dumps({"sweep": chain[-1].name, "lineage": rows}, indent=2, default=str))
        return
    from rich.table import Table

    from sweeplab.cli._common import console

    objective = chain[-1].objective
    table = Table(title=f"lineage of sweep {chain[-1].name}: root first")
    for col in (
        "sweep",
        "from",
        "how",
        "for",
        "trials",
        f"best {objective}",
        "95% CI",
        "vs parent",
    ):
        table.add_column(col, justify="right" if col == "trials" else "left", overflow="fold")
    for r in rows:
        ci = f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]" if r["ci_low"] is not None else "–"
        best = f"{r['best']:.4f}" if r["best"] is not None else "–"
        table.add_row(
            *(
                str(v)
                for v in (
                    r["sweep"],
                    r["parent"] or "–",
                    r["how"],
                    (r["diagnosis"] or "–").replace("_", " "),
                    r["trials"],
                    best,
                    ci,
                    r["vs_parent"] or "–",
                )
            )
        )
    console().print(table)
