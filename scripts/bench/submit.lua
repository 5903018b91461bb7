-- wrk script for the submission benchmarks (scripts/bench-spin, scripts/bench-hosts): POSTs a
-- $40 refund for a customer no other request names (the run's start time, RUN, the wrk thread
-- and a counter), with the bearer token in TOKEN. Prints one line, RESULT followed by requests,
-- errors (non-2xx, connect, read, write, timeout), requests a second, p50 and p99 in ms.
local token = os.getenv("TOKEN")
local run = (os.getenv("RUN") or "") .. os.time()
local threads = 0
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

request = function()
  counter = counter + 1
  local body = '{"kind":"refund","amount":{"minor_units":4000,"currency":"USD"},"customer_ref":"bench-'
    .. run .. '-' .. (thread_number or 0) .. '-' .. counter .. '","exception_code":"LATE_DELIVERY","rationale":"arrived late"}'
  return wrk.format("POST", "/v1/cases", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.stderr:write(string.format("RESULT %d %d %.2f %.2f %.2f\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
