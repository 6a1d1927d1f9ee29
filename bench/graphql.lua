-- wrk script: POST one GraphQL request with a bearer token, both from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ATELIER_BENCH_TOKEN")
wrk.body = os.getenv("ATELIER_BENCH_BODY")

-- Count non-200 answers, GraphQL errors and socket errors so a broken run cannot pass for a fast one.
-- Each wrk thread runs its own Lua state: `response` counts in the thread's state, and
-- `done` (in the main state) sums what every thread counted.
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

failures = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failures = failures + 1
  end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failures")
  end
  -- Requests that never got an answer (refused, reset, timed out) fail the run too.
  local e = summary.errors
  total = total + e.connect + e.read + e.write + e.timeout
  io.write(string.format("failed responses: %d\n", total))
end
