"""An optimization's whole ranking, kept apart from its backtest: a 10,000-combination
sweep ranks 10,000 rows (megabytes), which a member pages through
(`/api/backtest/{id}/ranking`) rather than receives with every read of the backtest.
The backtest carries the best `schemas.TOP_RANKED` rows only.

One document per execution, so a backtest answered from an identical earlier one reads
the ranking of the execution whose result it reuses, as it does that one's trades.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.common import Count
from shared.contracts.sweeps import RankedTable, SweepRow
from shared.mongo import Document

__all__ = [
    "RANKINGS_COLLECTION",
    "RankedRow",
    "RankingPage",
    "RankingSort",
    "RankingStore",
    "page_of",
]

RANKINGS_COLLECTION = "rankings"


class RankingSort(StrEnum):
    """What a ranking page is ordered by: `rank` (the objective's order) or a statistic."""

    RANK = "rank"
    OBJECTIVE = "objective"
    TOTAL_RETURN = "total_return"
    CAGR = "cagr"
    SHARPE_RATIO = "sharpe_ratio"
    SORTINO_RATIO = "sortino_ratio"
    MAX_DRAWDOWN = "max_drawdown"
    TOTAL_TRADES = "total_trades"
    WIN_RATE = "win_rate"
    PROFIT_FACTOR = "profit_factor"


class RankedRow(SweepRow):
    rank: int = Field(ge=1, description="Its place by the sweep's objective, 1 for the best.")


class RankingPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 12,
                    "offset": 0,
                    "sort": "rank",
                    "descending": False,
                    "rows": [
                        {
                            "rank": 1,
                            "parameters": {"fast": 10, "slow": 40},
                            "objective": 1.12,
                            "total_return": 4.81,
                            "cagr": 0.231,
                            "sharpe_ratio": 1.12,
                            "sortino_ratio": 1.71,
                            "max_drawdown": -0.27,
                            "total_trades": 21,
                            "win_rate": 0.57,
                            "profit_factor": 3.1,
                        }
                    ],
                }
            ]
        }
    )

    total: Count
    offset: Count
    sort: RankingSort
    descending: bool
    rows: list[RankedRow]


def page_of(
    rows: list[dict[str, Any]], offset: int, limit: int, sort: RankingSort, descending: bool
) -> RankingPage:
    """Rows `offset .. offset + limit - 1` in the order asked for; rows without a value
    for the statistic (an undefined ratio) come last either way."""
    ranked = [row | {"rank": place} for place, row in enumerate(rows, start=1)]
    if sort is not RankingSort.RANK:
        key = sort.value
        present = [row for row in ranked if row.get(key) is not None]
        missing = [row for row in ranked if row.get(key) is None]
        ranked = sorted(present, key=lambda row: row[key], reverse=descending) + missing
    elif descending:
        ranked.reverse()
    return RankingPage(
        total=len(rows),
        offset=offset,
        sort=sort,
        descending=descending,
        rows=[RankedRow.model_validate(row) for row in ranked[offset : offset + limit]],
    )


class RankingStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def save(self, execution_id: str, ranked: dict[str, Any]) -> None:
        """Keep an execution's ranking, as columns (a repeat of the same delivery
        rewrites the same)."""
        document = {"_id": execution_id, "columns": ranked}
        await self._collection.replace_one({"_id": execution_id}, document, upsert=True)

    async def delete(self, execution_id: str) -> None:
        await self._collection.delete_one({"_id": execution_id})

    async def rows(self, execution_id: str) -> list[dict[str, Any]] | None:
        document = await self._collection.find_one({"_id": execution_id})
        if document is None:
            return None
        return RankedTable.model_validate(document["columns"]).row_dicts()
