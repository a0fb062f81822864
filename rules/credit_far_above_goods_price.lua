-- For consumer loans the credit pays for goods; it is usually the goods price
-- plus fees and insurance (up to about 1.2 times).  A credit more than one and
-- a half times the goods price points to a wrong amount in one of the columns.
local FACTOR = 1.5

rule {
  name = "credit_far_above_goods_price",
  description = "The credit amount is more than 1.5 times the price of the goods it pays for",
  table = "SAMPLE_APPLICATION",
  columns = {"AMT_CREDIT", "AMT_GOODS_PRICE"},
  severity = "medium",
  -- the same test in SQL, so that a pushdown scan counts it in the database
  sql = "AMT_GOODS_PRICE > 0 AND AMT_CREDIT > " .. FACTOR .. " * AMT_GOODS_PRICE",
  row = function(r)
    local credit, goods = r.AMT_CREDIT, r.AMT_GOODS_PRICE
    if credit and goods and goods > 0 and credit > FACTOR * goods then
      return "credit " .. cs.amount(credit) .. " for goods priced " .. cs.amount(goods)
    end
  end,
}
