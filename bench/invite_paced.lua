-- bench/invite.lua at a set pace: PACE_RATE invites/s (default 2000), from ONE wrk thread (-t1).
-- wrk has no fixed-rate mode, but it asks delay() how long to wait before each request of a
-- connection: each request gets the next free slot of a 1/PACE_RATE s grid. With enough
-- connections the grid holds; when none is free a slot is skipped, never caught up in a burst.
-- Still a closed loop: latency counts from the write, not from the slot (an approximation).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "invite.lua")
local ffi = require("ffi")
ffi.cdef("typedef struct { long sec; long usec; } pace_timeval; int gettimeofday(pace_timeval *, void *);")
local tv = ffi.new("pace_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.sec) * 1000 + tonumber(tv.usec) / 1000
end
local interval = 1000 / tonumber(os.getenv("PACE_RATE") or "2000")
local next_slot = 0
function delay()
  local now = now_ms()
  local slot = math.max(next_slot, now)
  next_slot = slot + interval
  return slot - now
end
