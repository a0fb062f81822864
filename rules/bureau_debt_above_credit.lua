-- In the credit bureau records AMT_CREDIT_SUM is the amount of the credit and
-- AMT_CREDIT_SUM_DEBT what is still owed on it.  Owing more than was lent is
-- possible only with large arrears; in this data it is mostly a wrong amount.
rule {
  name = "bureau_debt_above_credit",
  description = "A credit bureau record shows more debt outstanding than the amount of the credit",
  table = "SAMPLE_BUREAU",
  columns = {"AMT_CREDIT_SUM_DEBT", "AMT_CREDIT_SUM"},
  severity = "medium",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "AMT_CREDIT_SUM_DEBT > AMT_CREDIT_SUM",
  row = function(r)
    local debt, sum = r.AMT_CREDIT_SUM_DEBT, r.AMT_CREDIT_SUM
    if debt and sum and debt > sum then
      return "debt " .. cs.amount(debt) .. " on a credit of " .. cs.amount(sum)
    end
  end,
}
