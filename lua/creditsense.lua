-- creditsense.lua -- helpers every rule file can use as the global `cs`.
--
-- This file is compiled into the creditsense binary (core/embed.py) and run
-- once per Lua state, before any rule file; each rule file then gets its own
-- copy of the `cs` table, so a rule cannot change what another rule sees.
-- The rule API itself, rule{...}, is documented in lua/README.md.

local floor, abs, format = math.floor, math.abs, string.format

local cs = {}

--- The placeholder the Home Credit data puts in DAYS_* columns instead of a
--- date ("about 1,000 years after the application").
cs.DAYS_PLACEHOLDER = 365243

--- Years from a DAYS_* value (days counted back from the application date,
--- so usually negative) to the application: cs.years(-12784) is 35.0.
--- nil stays nil.
function cs.years(days)
  if days == nil then return nil end
  return -days / 365.25
end

--- A number written for people: thousands separated by commas, rounded to
--- `decimals` places (default 0).  cs.amount(1234567.891, 2) is
--- "1,234,567.89"; nil gives "missing".
function cs.amount(x, decimals)
  if x == nil then return "missing" end
  local s = format("%." .. floor(decimals or 0) .. "f", abs(x))
  local int, frac = s:match("^(%d+)(.*)$")
  if int == nil then return s end -- inf, nan
  int = int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return (x < 0 and "-" or "") .. int .. frac
end

--- "12.5%" for part / whole; "n/a" when whole is 0 or nil.
function cs.percent(part, whole)
  if whole == nil or whole == 0 or part == nil then return "n/a" end
  return format("%.1f%%", 100 * part / whole)
end

--- true for the codes the Home Credit data uses instead of a missing
--- categorical value: "XNA" (not available) and "XAP" (not applicable).
function cs.is_placeholder(v)
  return v == "XNA" or v == "XAP"
end

return cs
