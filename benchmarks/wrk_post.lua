-- wrk script: POST the request bodies of $LOADTEST_BODY_FILE in turn (their lengths, one per
-- line, in $LOADTEST_BODY_INDEX) with $WRK_CONTENT_TYPE, and print one JSON summary line
-- (prefixed WRK_JSON) when the run ends, for mnist-serve loadtest to read.
local f = assert(io.open(os.getenv("LOADTEST_BODY_FILE"), "rb"))
local data = f:read("*a")
f:close()
local bodies, at = {}, 1
for size in io.lines(os.getenv("LOADTEST_BODY_INDEX")) do
  local n = tonumber(size)
  bodies[#bodies + 1] = data:sub(at, at + n - 1)
  at = at + n
end
data = nil
local headers = {["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"}
local requests_ = {}
local next_ = 0

-- Each wrk thread cycles through every body, so each image is sent as often as any other.
function request()
  next_ = next_ % #bodies + 1
  local req = requests_[next_]
  if req == nil then
    req = wrk.format("POST", nil, headers, bodies[next_])
    requests_[next_] = req
  end
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "non_2xx": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "p50": %d, "p90": %d, ' ..
    '"p99": %d, "p999": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
