-- The server's static health answer: the ceiling for the other runs.
request = function()
  return wrk.format("GET", "/api/v1/health")
end

done = function(summary, latency, requests)
  io.write(string.format("PERCENTILES p50=%.3f p95=%.3f p99=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
