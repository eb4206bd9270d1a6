-- What was quarantined and why: raw cost rows kept out of the fact, by reason.
select
    x_provider,
    x_source_table,
    x_quarantine_reason,
    x_charge_date,
    count(*) as quarantined_rows,
    min(x_raw_amount) as example_raw_amount,
    min(x_raw_description) as example_raw_description
from marts.fct_quarantined_cost_rows
group by x_provider, x_source_table, x_quarantine_reason, x_charge_date
order by x_charge_date, x_provider, x_quarantine_reason
