-- wrk script: POST /process_customer with a random existing customer id.
-- CS_ID_LO and CS_ID_HI (environment) bound the ids; the sample data's are
-- 100002 .. 100002 + customers - 1.
local lo = tonumber(os.getenv("CS_ID_LO") or "100002")
local hi = tonumber(os.getenv("CS_ID_HI") or "130001")
local path = os.getenv("CS_PATH") or "/process_customer"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

request = function()
  local body = string.format('{"customer_id": %d}', math.random(lo, hi))
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("STATUS non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
                         e.status, e.connect, e.read, e.write, e.timeout))
end
