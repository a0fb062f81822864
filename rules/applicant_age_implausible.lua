-- DAYS_BIRTH counts the days from birth back from the application (negative).
-- Lending needs an adult applicant, and an age over 100 is a data error.
rule {
  name = "applicant_age_implausible",
  description = "The applicant's age at application, from the birth date, is under 18 or over 100 years",
  table = "SAMPLE_APPLICATION",
  columns = {"DAYS_BIRTH"},
  severity = "high",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "-DAYS_BIRTH / 365.25 < 18 OR -DAYS_BIRTH / 365.25 > 100",
  row = function(r)
    local age = cs.years(r.DAYS_BIRTH)
    if age and (age < 18 or age > 100) then
      return string.format("age %.1f years (DAYS_BIRTH %d)", age, r.DAYS_BIRTH)
    end
  end,
}
