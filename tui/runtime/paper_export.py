"""Paper fills and the equity curve written to a file at the end of a run: CSV, or Parquet for a
``.parquet`` name (needs pyarrow). Columns: strategy.paper.FILL_COLUMNS and EQUITY_COLUMNS."""
from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from strategy.paper import EQUITY_COLUMNS, FILL_COLUMNS, PaperExecutor


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def iso_utc_us(ns: int) -> str:
    """``2026-01-01T12:00:50.607966Z``."""
    return datetime.fromtimestamp(ns // 1000 / 1e6, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_table(path: str | Path, columns: Sequence[str], rows: list[list[Any]]) -> int:
    """Write rows under a header; returns the number of rows. Floats keep every digit (repr)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)}), path)
        return len(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow([repr(x) if isinstance(x, float) else x for x in row])
    return len(rows)


def export_fills(paper: PaperExecutor, path: str | Path) -> int:
    rows = [[iso_utc_us(f.at_ns), f.at_ns, f.venue, f.symbol, f.unified, f.side, f.size, f.price, f.fee, f.liquidity,
             f.reason, f.order_id, f.position_after, f.realised_pnl, f.strategy] for f in paper.fills]
    return write_table(path, FILL_COLUMNS, rows)


def export_equity(paper: PaperExecutor, path: str | Path) -> int:
    rows = [[iso_utc_us(p.at_ns), p.at_ns, p.equity, p.realised_pnl, p.unrealised_pnl, p.fees, p.drawdown]
            for p in paper.equity_curve]
    return write_table(path, EQUITY_COLUMNS, rows)
