-- wrk: GET /healthz, the trivial endpoint every ratio is divided by (built per request in
-- Lua like the others, so the client does the same work for each).
request = function()
  return wrk.format("GET", "/healthz")
end
dofile(os.getenv("WRK_LIB"))
