"""Market data through the API: uploads with their reports, ownership, and backtests
that reuse an identical earlier result."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd
import pytest
from helpers import backtest_params, daily_csv, strategy_fields, wait_for_backtest

pytestmark = pytest.mark.integration

SYMBOLS = "/api/market-data/symbols"
CSV = {"Content-Type": "text/csv"}


def new_symbol() -> str:
    return f"U{uuid.uuid4().hex[:8].upper()}"


def upload(api: httpx.Client, symbol: str, content: bytes, **query: Any) -> httpx.Response:
    return api.post(f"{SYMBOLS}/{symbol}", content=content, headers=CSV, params=query)


def test_upload_reports_and_stores_a_new_symbol(api: httpx.Client) -> None:
    symbol = new_symbol()

    response = upload(api, symbol, daily_csv(30))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["report"]["rows_read"] == body["report"]["rows_stored"] == 30
    assert body["report"]["timeframe"] == "1d"
    assert body["symbol"]["version"] == 1
    assert body["symbol"]["timeframes"] == ["1d", "1w"]
    details = api.get(f"{SYMBOLS}/{symbol}").json()
    assert (details["rows"], details["first"][:10], details["last"][:10]) == (
        30,
        "2020-01-01",
        "2020-01-30",
    )
    assert symbol in [entry["symbol"] for entry in api.get(SYMBOLS).json()]


def test_refused_rows_answer_422_with_row_numbers_and_keep_the_stored_data(
    api: httpx.Client,
) -> None:
    symbol = new_symbol()
    upload(api, symbol, daily_csv(10))
    bad = daily_csv(12).decode().splitlines()
    bad[3] = "2020-01-03,5,4,6,5,100"  # row 3: high below low
    bad[7] = "2020-01-07,abc,4,3,3.5,100"  # row 7: open not a number

    response = upload(api, symbol, "\n".join(bad).encode())

    assert response.status_code == 422
    problems = {p["problem"]: p["rows"] for p in response.json()["report"]["problems"]}
    assert problems["high is below low"] == [3]
    assert problems["a price or the volume is missing or not a number"] == [7]
    assert api.get(f"{SYMBOLS}/{symbol}").json()["rows"] == 10


def test_duplicates_are_refused_unless_asked_to_drop_them(api: httpx.Client) -> None:
    symbol = new_symbol()
    lines = daily_csv(5).decode().splitlines()
    doubled = "\n".join([*lines, lines[2]]).encode()

    assert upload(api, symbol, doubled).status_code == 422
    response = upload(api, symbol, doubled, duplicates="drop")

    assert response.status_code == 201
    assert response.json()["report"]["duplicates_dropped"] == 1


def test_append_adds_newer_bars_as_a_new_version(api: httpx.Client) -> None:
    symbol = new_symbol()
    upload(api, symbol, daily_csv(20))

    response = upload(api, symbol, daily_csv(10, start="2020-01-16"), mode="append")

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["report"]["already_stored"], body["report"]["rows_stored"]) == (5, 5)
    assert (body["symbol"]["rows"], body["symbol"]["version"]) == (25, 2)
    again = upload(api, symbol, daily_csv(10, start="2020-01-16"), mode="append")
    assert again.status_code == 200
    assert again.json()["symbol"] is None


def daily_parquet(days: int) -> bytes:
    frame = pd.read_csv(io.BytesIO(daily_csv(days)), parse_dates=["Date"]).set_index("Date")
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("media_type", ["application/vnd.apache.parquet", None])
def test_parquet_upload(api: httpx.Client, media_type: str | None) -> None:
    """Named by its content type, or recognised by its first bytes when sent untyped."""
    headers = {"Content-Type": media_type} if media_type else {}

    response = api.post(f"{SYMBOLS}/{new_symbol()}", content=daily_parquet(15), headers=headers)

    assert response.status_code == 201, response.text
    assert response.json()["symbol"]["rows"] == 15


@pytest.mark.parametrize(
    ("name", "content", "rows"),
    [("prices.csv", daily_csv(12), 12), ("prices.parquet", daily_parquet(14), 14)],
)
def test_a_file_sent_as_a_form_is_imported(
    api: httpx.Client, name: str, content: bytes, rows: int
) -> None:
    """What `curl -F file=@prices.csv` and a browser's file input send."""
    response = api.post(f"{SYMBOLS}/{new_symbol()}", files={"file": (name, content)})

    assert response.status_code == 201, response.text
    assert response.json()["report"]["rows_stored"] == rows


def test_a_form_without_one_file_is_refused(api: httpx.Client) -> None:
    response = api.post(f"{SYMBOLS}/{new_symbol()}", files={"note": (None, "no file")})

    assert response.status_code == 422
    assert "the form must hold one file" in response.json()["errors"][0]["msg"]


def test_a_broken_form_is_refused_as_input(api: httpx.Client) -> None:
    boundary = "7c5156fb04a2177cf9e322ad31ebde44"
    response = api.post(
        f"{SYMBOLS}/{new_symbol()}",
        content=f"--{boundary}\r\nNone--{boundary}--\r\n".encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 422
    assert "the form could not be read" in response.json()["detail"]


@pytest.mark.parametrize("media_type", ["application/json", "image/png"])
def test_other_content_types_are_415_saying_what_is_accepted(
    api: httpx.Client, media_type: str
) -> None:
    response = api.post(
        f"{SYMBOLS}/{new_symbol()}", content=daily_csv(5), headers={"Content-Type": media_type}
    )

    assert response.status_code == 415
    assert f"cannot read a {media_type} body" in response.json()["detail"]
    assert "multipart/form-data" in response.json()["detail"]


def test_only_the_importer_changes_or_deletes_a_symbol(
    new_client: Callable[[], httpx.Client],
) -> None:
    owner, other = new_client(), new_client()
    symbol = new_symbol()
    upload(owner, symbol, daily_csv(10))

    assert upload(other, symbol, daily_csv(12)).status_code == 403
    assert other.delete(f"{SYMBOLS}/{symbol}").status_code == 403
    assert other.delete(f"{SYMBOLS}/GOOG").status_code == 403  # the bundled samples stay
    assert owner.delete(f"{SYMBOLS}/{symbol}").status_code == 204
    assert owner.get(f"{SYMBOLS}/{symbol}").status_code == 404
    assert owner.delete(f"{SYMBOLS}/{symbol}").status_code == 404


def test_upload_over_the_size_bound_is_413(api: httpx.Client) -> None:
    too_large = b"x" * (3 << 20)  # the test stack allows 2 MiB

    response = upload(api, new_symbol(), too_large)

    assert response.status_code == 413


def test_unreadable_upload_is_422(api: httpx.Client) -> None:
    response = upload(api, new_symbol(), b"just,some\ntext,here\n")

    assert response.status_code == 422
    assert "no time column" in response.json()["detail"]


def test_identical_backtest_reuses_the_stored_result_until_the_data_changes(
    api: httpx.Client,
) -> None:
    symbol = new_symbol()
    upload(api, symbol, daily_csv(400))
    strategy = api.post(
        "/api/strategy",
        json=strategy_fields(symbol=symbol, parameters={"fast": 5, "slow": 20}),
    ).json()
    params = backtest_params(start_date="2020-01-01T00:00:00Z", end_date="2021-12-31T00:00:00Z")
    path = f"/api/strategy/{strategy['id']}/backtest"
    computed = wait_for_backtest(api, api.post(path, json=params).json()["id"])
    assert computed["status"] == "completed", computed["error"]
    assert computed["result"]["cached"] is False

    reused = api.post(path, json=params)

    assert reused.status_code == 202
    body = reused.json()
    assert body["status"] == "completed"
    assert body["execution_id"] is None
    assert body["result"]["cached"] is True
    assert body["result"]["total_return"] == computed["result"]["total_return"]
    assert body["result"]["trades"] == computed["result"]["trades"]

    upload(api, symbol, daily_csv(400, price=50.0))  # new data: a new version
    recomputed = api.post(path, json=params).json()
    assert recomputed["status"] == "pending"
    finished = wait_for_backtest(api, recomputed["id"])
    assert finished["result"]["cached"] is False
    assert finished["result"]["data_version"] == 2


def _hourly_rows(start: str, hours: int, price: float = 100.0) -> list[str]:
    times = pd.date_range(start, periods=hours, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    return [f"{t},{price},{price * 1.01},{price * 0.99},{price},10" for t in times]


def test_a_symbol_has_one_timeframe(api: httpx.Client) -> None:
    symbol = new_symbol()
    daily = daily_csv(20).decode().splitlines()
    mixed = [*daily, *_hourly_rows("2020-01-21 01:00", 5)]

    refused = upload(api, symbol, "\n".join(mixed).encode())

    assert refused.status_code == 422
    problems = refused.json()["report"]["problems"]
    assert problems[0]["problem"] == "closer to the row before it than one 1d bar"
    assert problems[0]["rows"] == [22, 23, 24, 25]  # 21 is a day after the last daily row
    assert api.get(f"{SYMBOLS}/{symbol}").status_code == 404


def test_appending_bars_of_another_timeframe_is_refused(api: httpx.Client) -> None:
    symbol = new_symbol()
    upload(api, symbol, daily_csv(20))
    hourly = ["Date,Open,High,Low,Close,Volume", *_hourly_rows("2020-01-25 00:00", 30)]

    response = upload(api, symbol, "\n".join(hourly).encode(), mode="append")

    assert response.status_code == 422
    assert "1d" in str(response.json()["detail"])
    assert api.get(f"{SYMBOLS}/{symbol}").json()["rows"] == 20


def test_columns_named_alike_and_unrepresentable_prices_are_refused(api: httpx.Client) -> None:
    symbol = new_symbol()
    twice = (
        daily_csv(5)
        .decode()
        .replace("Date,Open,High,Low,Close,Volume", "Date,Open,High,Low,close,Close")
    )
    huge = daily_csv(5).decode().splitlines()
    huge[2] = "2020-01-02,1e308,1e308,1e308,1e308,10"

    named_alike = upload(api, symbol, twice.encode())
    too_large = upload(api, symbol, "\n".join(huge).encode())

    assert named_alike.status_code == 422
    assert "close" in named_alike.json()["detail"]
    assert too_large.status_code == 422
    problems = {p["problem"]: p["rows"] for p in too_large.json()["report"]["problems"]}
    assert problems["a price lies outside 1e-12..1e+12"] == [2]


def test_an_upload_without_a_file_is_refused(api: httpx.Client) -> None:
    assert upload(api, new_symbol(), b"").status_code == 422
