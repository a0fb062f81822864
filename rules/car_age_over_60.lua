-- OWN_CAR_AGE is the age of the applicant's car in years.  The real data has
-- cars of 64 to 91 years: vintage cars exist, but these values are far more
-- often typing errors, and they distort any model that uses car age.
rule {
  name = "car_age_over_60",
  description = "The applicant's car is said to be more than 60 years old",
  table = "SAMPLE_APPLICATION",
  columns = {"OWN_CAR_AGE"},
  severity = "low",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "OWN_CAR_AGE > 60",
  row = function(r)
    if r.OWN_CAR_AGE and r.OWN_CAR_AGE > 60 then
      return string.format("car age %g years", r.OWN_CAR_AGE)
    end
  end,
}
