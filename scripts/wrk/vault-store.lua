-- PUT a new version of a random secret of the benchmark agent's partition with its token.
local token, partition = os.getenv("TOKEN"), os.getenv("PARTITION")
local secrets = tonumber(os.getenv("SECRETS"))
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
math.randomseed(os.time())
local counter = 0

request = function()
  counter = counter + 1
  local path = string.format("/api/v1/vault/partitions/%s/secrets/key-%06d", partition, math.random(0, secrets - 1))
  local body = string.format('{"kind":"api_key","value":"rk_bench_%d_%d_abcdefghijklmnopqrstuvwx"}', counter, math.random(1, 1000000000))
  return wrk.format("PUT", path, headers, body)
end
