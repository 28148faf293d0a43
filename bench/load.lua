-- wrk script for the benchmark: wrk -t1 -c32 -d10s -s load.lua URL -- <list|detail|post> <tag>
--   list    GET /projects?limit=20
--   detail  GET /projects/{id}, id cycling over projects 1-500
--   post    POST /projects/{id}/tasks, id cycling over projects 501-1000, so that the reads
--           never see the rows the writes add; <tag> keeps titles unique across wrk runs
local mode, tag
local counter = 0
local json = { ["Content-Type"] = "application/json" }

function init(args)
  mode = args[1]
  tag = args[2] or "run"
end

function request()
  counter = counter + 1
  if mode == "list" then
    return wrk.format("GET", "/projects?limit=20")
  elseif mode == "detail" then
    return wrk.format("GET", "/projects/" .. (1 + counter % 500))
  elseif mode == "post" then
    local body = string.format('{"title":"%s %d"}', tag, counter)
    return wrk.format("POST", "/projects/" .. (501 + counter % 500) .. "/tasks", json, body)
  end
  error("unknown mode " .. tostring(mode))
end

-- One machine-readable line for bench/run.py; latencies in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"socket_errors":%d,"bad_status":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
