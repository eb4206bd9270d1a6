-- Spend by provider per day: billed USD per UTC day and provider.
select
    cast(charge_period_start as date) as charge_date,
    provider_name,
    billing_currency,
    sum(billed_cost) as billed_cost
from marts.fct_cost_and_usage
group by cast(charge_period_start as date), provider_name, billing_currency
order by charge_date, provider_name
