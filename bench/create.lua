wrk.method = "POST"
wrk.body = '{"title": "Benchmark task", "description": "created under load"}'
wrk.headers["Content-Type"] = "application/json"
