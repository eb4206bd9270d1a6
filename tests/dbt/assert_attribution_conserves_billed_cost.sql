{#-
    Conservation of attribution (blocking): per provider, UTC day and currency, Σ attributed
    cost in marts.fct_cost_attributed (unattributed and unallocated included) equals Σ billed
    cost in marts.fct_cost_and_usage exactly. Returns the provider-days that differ or that
    one side lacks.
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

attributed as (

    select
        x_provider as provider,
        charge_period_start,
        billing_currency,
        sum(attributed_cost) as attributed_cost
    from {{ ref('fct_cost_attributed') }}
    group by x_provider, charge_period_start, billing_currency

)

select
    coalesce(billed.provider, attributed.provider) as provider,
    coalesce(billed.charge_period_start, attributed.charge_period_start) as charge_period_start,
    coalesce(billed.billing_currency, attributed.billing_currency) as billing_currency,
    billed.billed_cost,
    attributed.attributed_cost
from billed
full outer join attributed
    on billed.provider = attributed.provider
    and billed.charge_period_start = attributed.charge_period_start
    and billed.billing_currency = attributed.billing_currency
where billed.billed_cost is null
    or attributed.attributed_cost is null
    or billed.billed_cost <> attributed.attributed_cost
