-- DAYS_CREDIT_ENDDATE is when a bureau credit is due to end, in days from the
-- application.  Mortgages run up to 30 years; end dates 40 or more years ahead
-- (the data has values of 85 years) are placeholders or typing errors.
local YEARS = 40

rule {
  name = "bureau_end_date_far_future",
  description = "A credit bureau record says the credit ends more than 40 years from now",
  table = "SAMPLE_BUREAU",
  columns = {"DAYS_CREDIT_ENDDATE"},
  severity = "low",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "DAYS_CREDIT_ENDDATE > " .. YEARS .. " * 365.25",
  row = function(r)
    local days = r.DAYS_CREDIT_ENDDATE
    if days and days > YEARS * 365.25 then
      return string.format("ends in %.0f years (DAYS_CREDIT_ENDDATE %s)", days / 365.25, cs.amount(days))
    end
  end,
}
