-- Shared by the wrk scripts: one JSON line at the end. Errors come back with their HTTP
-- status (SPEC §2: the status is the code's first three digits), so wrk's non-2xx count is
-- the error count; no response() hook, which would make wrk hand every body to Lua and slow
-- the client down unevenly between endpoints.
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"non_2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
