-- CODE_GENDER is F or M; the data uses 'XNA' (not available) for a handful of
-- applications, which most models and reports then drop or misclassify.
rule {
  name = "gender_not_available",
  description = "The applicant's gender is recorded as 'XNA' (not available) instead of F or M",
  table = "SAMPLE_APPLICATION",
  columns = {"CODE_GENDER"},
  severity = "medium",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "CODE_GENDER = 'XNA'",
  row = function(r)
    return r.CODE_GENDER == "XNA"
  end,
}
