-- 365243 in DAYS_EMPLOYED is expected for pensioners and the unemployed, who
-- have no employer; for anyone else it hides a missing employment date.
local no_employer = {Pensioner = true, Unemployed = true}

rule {
  name = "working_without_employment_date",
  description = "An applicant with an income from work has no employment start date (DAYS_EMPLOYED holds the placeholder 365243)",
  table = "SAMPLE_APPLICATION",
  columns = {"DAYS_EMPLOYED", "NAME_INCOME_TYPE"},
  severity = "high",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "DAYS_EMPLOYED = 365243 AND NAME_INCOME_TYPE NOT IN ('Pensioner', 'Unemployed')",
  row = function(r)
    if r.DAYS_EMPLOYED == cs.DAYS_PLACEHOLDER and r.NAME_INCOME_TYPE and not no_employer[r.NAME_INCOME_TYPE] then
      return "income type " .. r.NAME_INCOME_TYPE .. " but no employment date"
    end
  end,
}
