-- Each request invites a distinct address to better-auth's organization as its owner.
-- BA_COOKIE and BA_ORG come from DATA_DIR/session.json, written by server.mjs.
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  -- The start time keeps addresses distinct across runs against one database.
  prefix = "w" .. os.time() .. "-" .. id .. "-"
  org = assert(os.getenv("BA_ORG"), "BA_ORG unset")
  wrk.headers["Cookie"] = assert(os.getenv("BA_COOKIE"), "BA_COOKIE unset")
  wrk.headers["Content-Type"] = "application/json"
  -- better-auth's CSRF check wants the Origin of a cookie-bearing POST to be the server's own.
  wrk.headers["Origin"] = "http://" .. wrk.host .. ":" .. wrk.port
end
request = function()
  counter = counter + 1
  local body = '{"email":"' .. prefix .. counter .. '@example.com","role":"member","organizationId":"' .. org .. '"}'
  return wrk.format("POST", nil, nil, body)
end
