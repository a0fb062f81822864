-- An aggregate rule: it counts the installments paid after their due date
-- (DAYS_ENTRY_PAYMENT later than DAYS_INSTALMENT), keeps the keys of those
-- rows, and reports the share and how late they were, once per table.
rule {
  name = "installments_paid_late",
  description = "Installments were paid after their due date",
  table = "SAMPLE_INSTALLMENTS",
  columns = {"DAYS_INSTALMENT", "DAYS_ENTRY_PAYMENT"},
  severity = "low",
  aggregate = {
    init = function()
      return {late = 0, days = 0, worst = 0}
    end,
    row = function(s, r)
      local due, paid = r.DAYS_INSTALMENT, r.DAYS_ENTRY_PAYMENT
      if due and paid and paid > due then
        local days = paid - due
        s.late, s.days = s.late + 1, s.days + days
        if days > s.worst then s.worst = days end
        return true -- report this row (its key becomes a sample)
      end
    end,
    finish = function(s, rows)
      if s.late == 0 then return nil end
      return string.format("%s of %s installments (%s) were paid after their due date, %.0f days late on average "
                           .. "and %s days at worst.", cs.amount(s.late), cs.amount(rows), cs.percent(s.late, rows),
                           s.days / s.late, cs.amount(s.worst)), s.late
    end,
  },
}
