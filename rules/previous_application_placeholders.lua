-- The previous applications use the codes XNA (not available) and XAP (not
-- applicable) in place of missing values in many text columns.  The check
-- plugins cannot see these as missing unless the config lists them; this
-- aggregate rule reports, per column, how much of the data is a placeholder.
local COLUMNS = {"NAME_CONTRACT_TYPE", "NAME_CASH_LOAN_PURPOSE", "NAME_PAYMENT_TYPE", "CODE_REJECT_REASON",
                 "NAME_CLIENT_TYPE", "NAME_GOODS_CATEGORY", "NAME_PORTFOLIO", "NAME_PRODUCT_TYPE",
                 "NAME_SELLER_INDUSTRY", "NAME_YIELD_GROUP"}

rule {
  name = "previous_application_placeholders",
  description = "Previous applications hold the codes XNA or XAP instead of real values",
  table = "SAMPLE_PREVIOUS_APP",
  columns = COLUMNS,
  severity = "info",
  aggregate = {
    init = function()
      local counts = {}
      for _, c in ipairs(COLUMNS) do counts[c] = 0 end
      return {counts = counts, rows = 0}
    end,
    row = function(s, r)
      local any = false
      for _, c in ipairs(COLUMNS) do
        if cs.is_placeholder(r[c]) then
          s.counts[c] = s.counts[c] + 1
          any = true
        end
      end
      if any then s.rows = s.rows + 1 end
      return any
    end,
    finish = function(s, rows)
      if s.rows == 0 then return nil end
      local parts = {}
      for _, c in ipairs(COLUMNS) do
        if s.counts[c] > 0 then parts[#parts + 1] = c .. " " .. cs.percent(s.counts[c], rows) end
      end
      return string.format("%s of %s previous applications (%s) hold XNA (not available) or XAP (not applicable) "
                           .. "instead of a value; share per column: %s.", cs.amount(s.rows), cs.amount(rows),
                           cs.percent(s.rows, rows), table.concat(parts, ", ")), s.rows
    end,
  },
}
