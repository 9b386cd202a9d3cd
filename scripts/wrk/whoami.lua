-- The ceiling: an authenticated request that reads one row and writes nothing.
local headers = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
request = function()
  return wrk.format("GET", "/api/v1/whoami", headers)
end
