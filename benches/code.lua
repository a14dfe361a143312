-- wrk script for benches/token_endpoint.sh: the authorization code flow, authorize then
-- exchange. Each connection asks for a code (GET authorize with the session cookie, which
-- answers with a redirect at once) and exchanges the codes it got (POST token with the
-- PKCE verifier). One flow = one authorize + one exchange answered with tokens.
--   BENCH_AUTHORIZE_PATH, BENCH_COOKIE, BENCH_TOKEN_PATH, BENCH_BASIC, BENCH_VERIFIER,
--   BENCH_REDIRECT_URI: from benches/oauth_session.mjs
local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  flows, failed = 0, 0
  codes = {}
  local cookie = os.getenv("BENCH_COOKIE")
  local headers = {}
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  authorize = wrk.format("GET", os.getenv("BENCH_AUTHORIZE_PATH"), headers)
  token_path = os.getenv("BENCH_TOKEN_PATH")
  token_headers = {
    ["Authorization"] = os.getenv("BENCH_BASIC"),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
  token_tail = "&redirect_uri=" .. urlencode(os.getenv("BENCH_REDIRECT_URI"))
    .. "&code_verifier=" .. urlencode(os.getenv("BENCH_VERIFIER"))
end

function request()
  local code = table.remove(codes)
  if code then
    return wrk.format("POST", token_path, token_headers,
      "grant_type=authorization_code&code=" .. code .. token_tail)
  end
  return authorize
end

function response(status, headers, body)
  if status == 302 or status == 303 then
    local location = headers["Location"] or headers["location"] or ""
    local code = location:match("[?&]code=([^&]+)")
    if code then table.insert(codes, code) else failed = failed + 1 end
  elseif status == 200 and body:find('"id_token"', 1, true) then
    flows = flows + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  for _, t in ipairs(threads) do good = good + t:get("flows"); bad = bad + t:get("failed") end
  io.write(string.format("BENCH flows=%d failed=%d seconds=%.3f\n",
    good, bad, summary.duration / 1e6))
end
