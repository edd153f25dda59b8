-- wrk: durable shop/order/create, each request for a fresh apply.
-- env: PREPARED (a file of "member_id sku_slice" lines from `loadgen --scenario prepare`).
local rows = {}
for line in io.lines(os.getenv("PREPARED")) do
  local member, sku = line:match("(%d+) (%S+)")
  rows[#rows + 1] = { member, sku }
end
local next_row = 0
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
request = function()
  next_row = next_row + 1
  local row = rows[next_row]
  if row == nil then
    -- Out of applies: ask for a path that answers at once, counted as a non-2xx.
    return wrk.format("GET", "/out-of-applies")
  end
  local body = "company_id=421&business_id=10000001&sys_id=30&business_type=3001"
    .. "&request_id=wrk&handle_info=%7B%22platform_id%22%3A3%7D"
    .. "&member_id=" .. row[1] .. "&sku_slice=" .. row[2]:gsub(":", "%%3A")
  return wrk.format("POST", "/shop/order/create", headers, body)
end
dofile(os.getenv("WRK_LIB"))
