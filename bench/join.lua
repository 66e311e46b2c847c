-- Each request joins through one invitation link as the join page's form does: the link's
-- token, a name and a password, posted to /apps/{app}/join.
-- Usage: wrk ... -s bench/join.lua http://HOST/apps/APP/join -- TOKENS_FILE THREADS
-- TOKENS_FILE has one token a line; thread i takes lines i, i + THREADS, i + 2 * THREADS, ...
-- A token works once: when a thread's share runs out its connections wait out the run, and
-- done() says so (the figure is then a lower bound).
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local stride = tonumber(args[2])
  tokens, taken, used = {}, 0, 0
  local n = 0
  for line in assert(io.open(args[1])):lines() do
    if n % stride == id then table.insert(tokens, line) end
    n = n + 1
  end
  count = #tokens
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
-- wrk calls delay() right before each request() of a connection: a token is taken here so
-- that no two connections can be promised the last one.
function delay()
  taken = taken + 1
  if taken > count then return 3600 * 1000 end
  return 0
end
local function join(token)
  return wrk.format(nil, nil, nil, "token=" .. token .. "&full_name=Bench&password=bench-password-1")
end
request = function()
  -- wrk builds one request to check the script before the run, with no delay() before it.
  if taken == 0 then return join(tokens[1]) end
  used = used + 1
  return join(tokens[used])
end
function done(summary, latency, requests)
  local left = 0
  for _, thread in ipairs(threads) do
    left = left + thread:get("count") - math.min(thread:get("taken"), thread:get("count"))
  end
  io.write(string.format("join tokens left: %d\n", left))
end
