-- Each request invites a distinct address through the SDK route.
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  -- The start time keeps addresses distinct across runs against one database.
  prefix = "w" .. os.time() .. "-" .. id .. "-"
end
request = function()
  counter = counter + 1
  local body = '{"user_email":"' .. prefix .. counter .. '@example.com","role":"user"}'
  return wrk.format("POST", nil, nil, body)
end
