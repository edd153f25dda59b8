-- wrk: durable activityPlatform/wxActivity/apply, a new member each request.
-- env: ACTIVITY (the activity id), MEMBER_BASE (first member id).
local activity = os.getenv("ACTIVITY")
local member = tonumber(os.getenv("MEMBER_BASE"))
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
request = function()
  member = member + 1
  local body = "company_id=421&business_id=10000001&name=wrk&phone=13800000000"
    .. "&activity_id=" .. activity .. "&member_id=" .. member
  return wrk.format("POST", "/activityPlatform/wxActivity/apply", headers, body)
end
dofile(os.getenv("WRK_LIB"))
