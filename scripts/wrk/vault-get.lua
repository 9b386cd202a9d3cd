-- GET a random secret of the benchmark agent's partition with its token.
local token, partition = os.getenv("TOKEN"), os.getenv("PARTITION")
local secrets = tonumber(os.getenv("SECRETS"))
local headers = { ["Authorization"] = "Bearer " .. token }
math.randomseed(os.time())

request = function()
  local path = string.format("/api/v1/vault/partitions/%s/secrets/key-%06d", partition, math.random(0, secrets - 1))
  return wrk.format("GET", path, headers)
end
