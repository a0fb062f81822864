-- AMT_ANNUITY is the yearly repayment of the loan, AMT_CREDIT the whole loan:
-- paying more each year than the total amount borrowed is impossible for a
-- loan that runs longer than a year, so one of the two amounts is wrong.
rule {
  name = "annuity_above_credit",
  description = "The yearly repayment (annuity) is larger than the whole credit amount",
  table = "SAMPLE_APPLICATION",
  columns = {"AMT_ANNUITY", "AMT_CREDIT"},
  severity = "high",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "AMT_CREDIT > 0 AND AMT_ANNUITY > AMT_CREDIT",
  row = function(r)
    local annuity, credit = r.AMT_ANNUITY, r.AMT_CREDIT
    if annuity and credit and credit > 0 and annuity > credit then
      return "annuity " .. cs.amount(annuity) .. " against a credit of " .. cs.amount(credit)
    end
  end,
}
