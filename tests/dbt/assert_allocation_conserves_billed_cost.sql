{#-
    Conservation (blocking): per provider and UTC day, Σ allocated cost (unallocated included)
    in marts.fct_cost_allocated equals Σ billed cost in marts.fct_cost_and_usage, to the cent
    (the models keep it exact; any difference at all is reported). Returns the provider-days
    that differ or that one side lacks.
-#}

with

billed as (

    select
        x_provider as provider,
        charge_period_start,
        billing_currency,
        sum(billed_cost) as billed_cost
    from {{ ref('fct_cost_and_usage') }}
    group by x_provider, charge_period_start, billing_currency

),

allocated as (

    select
        x_provider as provider,
        charge_period_start,
        billing_currency,
        sum(allocated_cost) as allocated_cost
    from {{ ref('fct_cost_allocated') }}
    group by x_provider, charge_period_start, billing_currency

)

select
    coalesce(billed.provider, allocated.provider) as provider,
    coalesce(billed.charge_period_start, allocated.charge_period_start) as charge_period_start,
    coalesce(billed.billing_currency, allocated.billing_currency) as billing_currency,
    billed.billed_cost,
    allocated.allocated_cost
from billed
full outer join allocated
    on billed.provider = allocated.provider
    and billed.charge_period_start = allocated.charge_period_start
    and billed.billing_currency = allocated.billing_currency
where billed.billed_cost is null
    or allocated.allocated_cost is null
    or round(billed.billed_cost, 2) <> round(allocated.allocated_cost, 2)
    or billed.billed_cost <> allocated.allocated_cost
