-- The same work over REST and over MCP, for scripts/bench-agents. MODE is `rest` or `mcp`;
-- TOOL is `search_consumers` or `vault_get`. Over MCP, each request is a `tools/call` that
-- stands alone (Rekey's MCP server keeps no sessions: the token and the protocol version come
-- with every call). Both modes read every answer and count the ones that are not a success, so
-- each pays the same for the check.
local token, mode, tool = os.getenv("TOKEN"), os.getenv("MODE"), os.getenv("TOOL")
local partition, secrets = os.getenv("PARTITION"), tonumber(os.getenv("SECRETS"))
-- Words found in the demo inventory's names, contacts and tags, and one found nowhere.
local texts = { "pay", "shop", "acme", "bank", "api", "nothing-matches" }
local calls = 0
errors = 0
math.randomseed(os.time())

request = function()
  calls = calls + 1
  local text = texts[math.random(#texts)]
  local secret = string.format("key-%06d", math.random(0, secrets - 1))
  if mode == "rest" then
    local path
    if tool == "search_consumers" then
      path = "/api/v1/consumers?environment=production&q=" .. text
    else
      path = string.format("/api/v1/vault/partitions/%s/secrets/%s", partition, secret)
    end
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
  end
  local arguments
  if tool == "search_consumers" then
    arguments = string.format('{"text":"%s","environment":"production"}', text)
  else
    arguments = string.format('{"partition":"%s","name":"%s"}', partition, secret)
  end
  local body = string.format(
    '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"%s","arguments":%s}}',
    calls, tool, arguments)
  return wrk.format("POST", "/mcp", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-11-25",
  }, body)
end

response = function(status, headers, body)
  local ok
  if mode == "rest" then
    ok = status == 200 and string.find(body, "{", 1, true) ~= nil
  else
    ok = status == 200 and string.find(body, '"result"', 1, true) ~= nil
      and string.find(body, '"isError":true', 1, true) == nil
  end
  if not ok then
    errors = errors + 1
  end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("errors")
  end
  io.write(string.format("FAILED %d\n", failed))
end
