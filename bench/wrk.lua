-- The wrk script of `manage.py bench_wrk` (bench/wrk.py runs it):
--
--   WRK_BODY='{"conversation_id": "...", "limit": 25}' WRK_KEY=... \
--     wrk -t2 -c16 -d15s --latency -s bench/wrk.lua http://127.0.0.1:8000/protobuf/Streams/ListMessages
--
-- Every request is the same POST: WRK_BODY (default {}), WRK_CONTENT_TYPE
-- (default application/json) and, when WRK_KEY is set, Authorization: Bearer
-- WRK_KEY. No response() function: wrk would then parse every answer's headers
-- and body into Lua, client CPU taken from the server on a small machine.
--
-- done() prints one line that bench/wrk.py parses: "bench_wrk " and a JSON
-- object (latencies in ms). non_2xx is wrk's summary.errors.status: the
-- answers with a status of 400 or more (this service sends no 1xx or 3xx to
-- these requests).

wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or "{}"
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"
local key = os.getenv("WRK_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'bench_wrk {"requests": %d, "duration_s": %.6f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, '
      .. '"max_ms": %.3f, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"non_2xx": %d}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect, e.read, e.write, e.timeout, e.status
  ))
end
