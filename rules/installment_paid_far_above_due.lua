-- AMT_INSTALMENT is what was due, AMT_PAYMENT what was paid.  Paying somewhat
-- more happens (early repayment); paying more than one and a half times the
-- amount due is worth a look: a double booking or a wrong amount.
local FACTOR = 1.5

rule {
  name = "installment_paid_far_above_due",
  description = "An installment was paid with more than 1.5 times the amount due",
  table = "SAMPLE_INSTALLMENTS",
  columns = {"AMT_INSTALMENT", "AMT_PAYMENT"},
  severity = "low",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "AMT_INSTALMENT > 0 AND AMT_PAYMENT > " .. FACTOR .. " * AMT_INSTALMENT",
  row = function(r)
    local due, paid = r.AMT_INSTALMENT, r.AMT_PAYMENT
    if due and paid and due > 0 and paid > FACTOR * due then
      return "paid " .. cs.amount(paid, 2) .. " where " .. cs.amount(due, 2) .. " was due"
    end
  end,
}
