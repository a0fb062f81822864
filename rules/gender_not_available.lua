-- CODE_GENDER is F or M; the data uses 'XNA' (not available) for a handful of
-- applications, which most models and reports then drop or misclassify.
rule {
  name = "gender_not_available",
  description = "The applicant's gender is recorded as 'XNA' (not available) instead of F or M",
  table = "SAMPLE_APPLICATION",
  columns = {"CODE_GENDER"},
  severity = "medium",
  row = function(r)
    return r.CODE_GENDER == "XNA"
  end,
}
