-- Signed key.used events, each with its own id, read from EVENTS_FILE (one "signature<TAB>body"
-- per line, signed by the benchmark script moments before). Each wrk thread sends its own
-- share of the lines, each line once.
local threads = 0

setup = function(thread)
  thread:set("part", threads)
  threads = threads + 1
end

local lines = {}
for line in io.lines(os.getenv("EVENTS_FILE")) do
  lines[#lines + 1] = line
end
local parts = tonumber(os.getenv("THREADS"))
local sent = 0

request = function()
  local share = math.floor(#lines / parts)
  local line = lines[(part * share) + (sent % share) + 1]
  sent = sent + 1
  local tab = line:find("\t", 1, true)
  local headers = { ["Rekey-Signature"] = line:sub(1, tab - 1), ["Content-Type"] = "application/json" }
  return wrk.format("POST", "/api/v1/events", headers, line:sub(tab + 1))
end

done = function(summary, latency, requests)
  io.write(string.format("PERCENTILES p50=%.3f p95=%.3f p99=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
