"""Strategies in MongoDB, always looked up together with their owner."""

from __future__ import annotations

import uuid

from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from backend.schemas import Strategy, StrategyCreate, StrategyUpdate
from shared.contracts.common import utc_now
from shared.mongo import Document

MAX_LISTED = 500


class StrategyStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    async def create(self, user_id: str, fields: StrategyCreate) -> Strategy:
        now = utc_now()
        document = {
            "_id": str(uuid.uuid4()),
            "user_id": user_id,
            **fields.model_dump(mode="json"),
            "created_at": now,
            "updated_at": now,
        }
        await self._collection.insert_one(document)
        return Strategy.from_document(document)

    async def list(self, user_id: str) -> list[Strategy]:
        cursor = self._collection.find({"user_id": user_id}).sort("created_at", DESCENDING)
        return [Strategy.from_document(document) async for document in cursor.limit(MAX_LISTED)]

    async def get(self, user_id: str, strategy_id: str) -> Strategy | None:
        document = await self._collection.find_one({"_id": strategy_id, "user_id": user_id})
        return Strategy.from_document(document) if document else None

    async def replace(
        self, user_id: str, strategy_id: str, fields: StrategyUpdate
    ) -> Strategy | None:
        document = await self._collection.find_one_and_update(
            {"_id": strategy_id, "user_id": user_id},
            {"$set": {**fields.model_dump(mode="json"), "updated_at": utc_now()}},
            return_document=ReturnDocument.AFTER,
        )
        return Strategy.from_document(document) if document else None

    async def rename(self, user_id: str, strategy_id: str, name: str) -> Strategy | None:
        document = await self._collection.find_one_and_update(
            {"_id": strategy_id, "user_id": user_id},
            {"$set": {"name": name, "updated_at": utc_now()}},
            return_document=ReturnDocument.AFTER,
        )
        return Strategy.from_document(document) if document else None

    async def delete(self, user_id: str, strategy_id: str) -> bool:
        outcome = await self._collection.delete_one({"_id": strategy_id, "user_id": user_id})
        return outcome.deleted_count == 1
