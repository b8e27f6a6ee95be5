"""The RFM query of benches/segment.rs in DuckDB, as the reference.

Usage: python3 benches/segment_duckdb.py ORDERS.csv "YYYY-MM-DD HH:MM:SS"

Converts the CSV to Parquet (timed apart), then times the same RFM query on
the Parquet file: paid orders per customer with cross-system duplicates
counted once (same status, amount to the cent and day: the most any one
system reported), recency / frequency / monetary, and 1-5 scores by mid-rank
(1 + floor(5 * (values worse + half the values equal) / n)), as tierlink
scores them. Prints `name=seconds` lines for the bench to read.
"""

import os
import sys
import tempfile
import time

import duckdb

RFM = """
WITH per_system AS (
    SELECT golden_id, status, CAST(ordered_at AS DATE) AS day,
           CAST(round(amount * 100) AS BIGINT) AS cents, connector,
           count(*) AS reported, max(ordered_at) AS last_at
    FROM read_parquet('{path}')
    WHERE ordered_at <= TIMESTAMP '{as_of}'
    GROUP BY ALL
), distinct_orders AS (
    SELECT golden_id, status, day, cents,
           max(reported) AS orders, max(last_at) AS last_at
    FROM per_system GROUP BY golden_id, status, day, cents
), customers AS (
    SELECT golden_id,
           floor(date_diff('second', max(last_at), TIMESTAMP '{as_of}') / 86400.0) AS recency,
           sum(orders) AS frequency,
           round(sum(orders * cents) / 100.0, 2) AS monetary
    FROM distinct_orders WHERE status = 'paid' GROUP BY golden_id
), ranked AS (
    SELECT golden_id, recency, frequency, monetary, count(*) OVER () AS n,
           count(*) OVER (ORDER BY recency DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
             - count(*) OVER (PARTITION BY recency) AS r_worse,
           count(*) OVER (PARTITION BY recency) AS r_equal,
           rank() OVER (ORDER BY frequency) - 1 AS f_worse,
           count(*) OVER (PARTITION BY frequency) AS f_equal,
           rank() OVER (ORDER BY monetary) - 1 AS m_worse,
           count(*) OVER (PARTITION BY monetary) AS m_equal
    FROM customers
)
SELECT least(5, 1 + (10 * r_worse + 5 * r_equal) // (2 * n)) AS r,
       least(5, 1 + (10 * f_worse + 5 * f_equal) // (2 * n)) AS f,
       least(5, 1 + (10 * m_worse + 5 * m_equal) // (2 * n)) AS m,
       count(*) AS customers
FROM ranked GROUP BY ALL ORDER BY ALL
"""


def main():
    csv_path, as_of = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as folder:
        parquet = os.path.join(folder, "orders.parquet")
        started = time.perf_counter()
        con.execute(
            f"COPY (SELECT * FROM read_csv('{csv_path}', header = true, "
            f"timestampformat = '%Y-%m-%d %H:%M:%S')) TO '{parquet}' (FORMAT parquet)"
        )
        print(f"duckdb_csv_to_parquet_seconds={time.perf_counter() - started:.3f}")
        started = time.perf_counter()
        cells = con.execute(RFM.format(path=parquet, as_of=as_of)).fetchall()
        print(f"duckdb_rfm_parquet_seconds={time.perf_counter() - started:.3f}")
        print(f"duckdb_rfm_cells={len(cells)} buyers={sum(row[3] for row in cells)}")
        print(f"duckdb_threads={con.execute('SELECT current_setting(' + repr('threads') + ')').fetchone()[0]}")


if __name__ == "__main__":
    main()
