-- A customer rule: it runs in `creditsense customer` runs, after all of the
-- customer's tables are read, and sees the customer's rows of both tables.
-- Every installment belongs to a previous credit (SK_ID_PREV); a payment for
-- a credit the customer's previous applications do not include cannot be
-- traced to a contract.
rule {
  name = "installments_without_previous_application",
  description = "Installment payments refer to a previous credit the customer has no application for",
  tables = {"SAMPLE_PREVIOUS_APP", "SAMPLE_INSTALLMENTS"},
  columns = {
    SAMPLE_PREVIOUS_APP = {"SK_ID_PREV"},
    SAMPLE_INSTALLMENTS = {"SK_ID_PREV", "AMT_PAYMENT"},
  },
  severity = "medium",
  customer = function(t, customer_id)
    local known = {}
    for _, app in ipairs(t.SAMPLE_PREVIOUS_APP) do
      known[app.SK_ID_PREV] = true
    end
    local orphans, credits, seen, paid = {}, {}, {}, 0
    for _, inst in ipairs(t.SAMPLE_INSTALLMENTS) do
      local prev = inst.SK_ID_PREV
      if prev and not known[prev] then
        orphans[#orphans + 1] = inst
        paid = paid + (inst.AMT_PAYMENT or 0)
        if not seen[prev] then
          seen[prev] = true
          credits[#credits + 1] = string.format("%d", prev)
        end
      end
    end
    if #orphans == 0 then return nil end
    return string.format("Customer %s has %d installment payments (%s in total) for previous credit %s, "
                         .. "which is not among the customer's %d previous applications.", tostring(customer_id),
                         #orphans, cs.amount(paid, 2), table.concat(credits, ", "), #t.SAMPLE_PREVIOUS_APP),
           orphans -- the rows to report: their keys become the samples
  end,
}
