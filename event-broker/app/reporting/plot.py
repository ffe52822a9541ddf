"""The equity curve as a PNG, with drawdowns shaded (``-plot FILE``).

matplotlib is imported inside ``write_equity_plot`` with the non-interactive Agg backend, so
neither the daemon nor a report without ``-plot`` pays for it (about a second and 40 MB).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from broker_connector_base import InvalidInputError

from app.reporting.model import AccountReport

__all__ = ["write_equity_plot"]


def write_equity_plot(report: AccountReport, path: Path) -> None:
    """Draw ``report``'s equity curve into the PNG ``path``.

    Top: the time-weighted growth in percent, the fall below its running peak shaded.
    Bottom: the account's value, deposits and withdrawals marked.

    Raises:
        InvalidInputError: The report has fewer than two days to draw.
        OSError: ``path`` cannot be written.
    """
    points = report.equity_curve
    if len(points) < 2:
        raise InvalidInputError(
            f"account {report.account_id} has {len(points)} trading day(s) of snapshots; "
            "an equity curve needs two",
            "-plot",
        )
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    days: list[date] = [p.date for p in points]
    growth = [p.growth * 100 for p in points]
    peak = []
    best = float("-inf")
    for value in growth:
        best = max(best, value)
        peak.append(best)
    figure, (top, bottom) = pyplot.subplots(
        2, 1, sharex=True, figsize=(10, 6), height_ratios=(2, 1), layout="constrained"
    )
    try:
        top.plot(days, growth, color="tab:blue", label="time-weighted return")
        top.fill_between(
            days,
            growth,
            peak,
            where=[g < p for g, p in zip(growth, peak, strict=True)],
            color="tab:red",
            alpha=0.3,
            label="drawdown",
        )
        top.set_ylabel("return (%)")
        top.set_title(f"Account {report.account_id}")
        top.legend(loc="upper left")
        top.grid(alpha=0.3)
        bottom.plot(days, [float(p.value) for p in points], color="tab:gray", label="value")
        flows = [p for p in points if p.cash_flow != 0]
        if flows:
            bottom.scatter(
                [p.date for p in flows],
                [float(p.value) for p in flows],
                marker="o",
                color=["tab:green" if p.cash_flow > 0 else "tab:orange" for p in flows],
                label="deposit / withdrawal",
                zorder=3,
            )
        bottom.set_ylabel("value ($)")
        bottom.legend(loc="upper left")
        bottom.grid(alpha=0.3)
        figure.autofmt_xdate()
        figure.savefig(path, format="png", dpi=100)
    finally:
        pyplot.close(figure)
