-- wrk script for bench_gateway.py: send pre-built requests, each exactly once, and report
-- p50/p99, the number of requests, non-2xx answers and every status as one JSON line.
--
--   wrk -t1 -c16 -d10s -s bench/each_request_once.lua http://127.0.0.1:8099 -- \
--       REQUESTS_FILE [once|cycle] [EXPECTED_STATUS] [EXPECTED_BODY_SUBSTRING]
--
-- REQUESTS_FILE holds one request per line: `PATH<TAB>TOKEN<TAB>JSON BODY` (TOKEN may be
-- empty); all of them are formatted in init(), before wrk starts its clock. `once` hands
-- each request out exactly once (single-use tokens); when they run out, a cheap sentinel
-- request (`GET /__bench_out_of_requests__`) is sent instead and counted as `exhausted`.
-- `cycle` starts again from the first (requests without a token). With one wrk thread (-t1)
-- a single counter serves every connection. A response counts as `ok` when it has the
-- expected status (default 200) and, if given, its body contains the expected substring.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local requests = {}
local count = 0
local next_index = 1
local cycle = false
local expected_status = 200
local expected_body = nil
local sentinel = nil

-- Globals read by done() through thread:get().
statuses = {}
ok = 0
exhausted = 0
sample = ""  -- the first answer that was not ok: status and start of the body

local function load_requests(path)
   for line in io.lines(path) do
      local target, token, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      if target == nil then
         error("malformed line " .. (count + 1) .. " in " .. path)
      end
      local headers = {["Content-Type"] = "application/json"}
      if token ~= "" then
         headers["Authorization"] = "Bearer " .. token
      end
      count = count + 1
      requests[count] = wrk.format("POST", target, headers, body)
   end
   if count == 0 then
      error("no requests in " .. path)
   end
end

function init(args)
   -- args[0] is the URL; the script's own arguments (after `--`) start at args[1].
   load_requests(args[1])
   cycle = args[2] == "cycle"
   expected_status = tonumber(args[3] or "200")
   if args[4] ~= nil and args[4] ~= "" then expected_body = args[4] end
   sentinel = wrk.format("GET", "/__bench_out_of_requests__", {}, nil)
end

function request()
   if next_index > count then
      if not cycle then
         exhausted = exhausted + 1
         return sentinel
      end
      next_index = 1
   end
   local r = requests[next_index]
   next_index = next_index + 1
   return r
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == expected_status
      and (expected_body == nil or string.find(body, expected_body, 1, true) ~= nil) then
      ok = ok + 1
   elseif sample == "" then
      sample = status .. " " .. string.sub(body or "", 1, 200)
   end
end

local function json_string(text)
   -- Quotes, backslashes and control characters escaped; other bytes pass through.
   local escaped = string.gsub(text, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. escaped .. '"'
end

local function json_statuses(merged)
   local parts = {}
   for status, n in pairs(merged) do
      table.insert(parts, string.format('"%d":%d', status, n))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, _requests)
   local merged, total_ok, total_exhausted, first_sample = {}, 0, 0, ""
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + n
      end
      total_ok = total_ok + thread:get("ok")
      total_exhausted = total_exhausted + thread:get("exhausted")
      if first_sample == "" then first_sample = thread:get("sample") end
   end
   local non_2xx = 0
   for status, n in pairs(merged) do
      if status < 200 or status > 299 then non_2xx = non_2xx + n end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH-RESULT {"requests":%d,"duration_us":%d,"ok":%d,"non_2xx":%d,"exhausted":%d,'
      .. '"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"statuses":%s,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"sample":%s}\n',
      summary.requests, summary.duration, total_ok, non_2xx, total_exhausted,
      latency:percentile(50), latency:percentile(99), latency.max, json_statuses(merged),
      e.connect, e.read, e.write, e.timeout, json_string(first_sample)))
end
