-- Consumer search as the list runs it: free text over names, contacts and tags (a contact's
-- e-mail address or a consumer name from the imported file), sometimes with a filter.
local token = os.getenv("TOKEN")
local consumers = tonumber(os.getenv("CONSUMERS"))
local headers = { ["Authorization"] = "Bearer " .. token }
local filters = { "", "&environment=production", "&status=rotating", "&older_than=180", "&pattern=server_sdk" }
math.randomseed(os.time())

request = function()
  local n = math.random(0, consumers - 1)
  local q
  if math.random(2) == 1 then
    q = string.format("tech%05d%%40bench.example", n)
  else
    q = string.format("Bench%%20Consumer%%20%05d", n)
  end
  local path = "/api/v1/consumers?q=" .. q .. filters[math.random(#filters)]
  return wrk.format("GET", path, headers)
end

done = function(summary, latency, requests)
  io.write(string.format("PERCENTILES p50=%.3f p95=%.3f p99=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
