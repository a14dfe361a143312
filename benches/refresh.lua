-- wrk script for benches/token_endpoint.sh: the refresh grant, the same refresh token
-- every time (the servers run with refresh-token rotation off).
--   BENCH_TOKEN_PATH, BENCH_BASIC, BENCH_REFRESH_TOKEN: from benches/oauth_session.mjs
local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  ok, failed = 0, 0
  req = wrk.format("POST", os.getenv("BENCH_TOKEN_PATH"), {
    ["Authorization"] = os.getenv("BENCH_BASIC"),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=refresh_token&refresh_token=" .. urlencode(os.getenv("BENCH_REFRESH_TOKEN")))
end

function request() return req end

function response(status, headers, body)
  -- A refresh answer without an ID token would be cheaper than the one measured.
  if status == 200 and body:find('"id_token"', 1, true) then ok = ok + 1 else failed = failed + 1 end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  for _, t in ipairs(threads) do good = good + t:get("ok"); bad = bad + t:get("failed") end
  io.write(string.format("BENCH refreshes=%d failed=%d seconds=%.3f\n",
    good, bad, summary.duration / 1e6))
end
