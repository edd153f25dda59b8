-- wrk: shop/order/state over the live orders of PREPARED ("member_id parent_order_no"
-- lines from `loadgen --scenario prepare --with-orders`), round robin.
local rows = {}
for line in io.lines(os.getenv("PREPARED")) do
  local member, parent = line:match("(%d+) (%d+)")
  rows[#rows + 1] = "/shop/order/state?company_id=421&member_id=" .. member
    .. "&parent_order_no=" .. parent
end
local next_row = 0
request = function()
  next_row = next_row % #rows + 1
  return wrk.format("GET", rows[next_row])
end
dofile(os.getenv("WRK_LIB"))
