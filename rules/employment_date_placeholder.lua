-- The Home Credit data writes 365243 (about 1,000 years after the application)
-- into DAYS_EMPLOYED when there is no employment date: almost always for
-- pensioners and the unemployed.  Counting it tells how much of the column is
-- a placeholder; working_without_employment_date.lua flags the rows where it
-- cannot be right.
rule {
  name = "employment_date_placeholder",
  description = "The employment start date is the placeholder 365243 (about 1,000 years after the application) instead of a real date",
  table = "SAMPLE_APPLICATION",
  columns = {"DAYS_EMPLOYED", "NAME_INCOME_TYPE"},
  severity = "low",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "DAYS_EMPLOYED = 365243",
  row = function(r)
    if r.DAYS_EMPLOYED == cs.DAYS_PLACEHOLDER then
      return "placeholder for an applicant whose income type is " .. (r.NAME_INCOME_TYPE or "missing")
    end
  end,
}
