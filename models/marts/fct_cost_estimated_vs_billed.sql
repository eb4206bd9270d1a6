{#-
    The two tracks of cost side by side: estimated (usage × dated price catalogue) against
    billed (the provider's cost report), per provider × model × UTC day × currency; the gap
    is a metric. Tool charges (web search, code execution) are billed without a model, so
    both tracks carry them under a null model.
-#}

with

priced as (

    select * from {{ ref('int_usage__priced') }}

),

-- the provider's own usage reports are the estimate; app telemetry describes the same calls,
-- so it is a second estimate beside it, never added to it
provider_usage as (

    select * from priced
    where usage_source <> 'telemetry'

),

telemetry_usage as (

    select * from priced
    where usage_source = 'telemetry'

),

billed as (

    select * from {{ ref('int_cost__unioned') }}

),

estimated_daily as (

    select
        provider,
        case when consumed_unit = 'Tokens' then model end as model,
        usage_date as charge_date,
        coalesce(price_currency, '{{ var("reporting_currency", "USD") }}') as billing_currency,
        count(*) as usage_line_count,
        sum(case when is_priced then 0 else 1 end) as unpriced_line_count,
        sum(case when is_priced then consumed_quantity else 0 end) as priced_quantity,
        sum(case when is_priced then 0 else consumed_quantity end) as unpriced_quantity,
        sum(estimated_cost) as estimated_cost
    from provider_usage
    group by
        provider,
        case when consumed_unit = 'Tokens' then model end,
        usage_date,
        coalesce(price_currency, '{{ var("reporting_currency", "USD") }}')

),

telemetry_daily as (

    select
        provider,
        case when consumed_unit = 'Tokens' then model end as model,
        usage_date as charge_date,
        coalesce(price_currency, '{{ var("reporting_currency", "USD") }}') as billing_currency,
        -- calls × token types (a telemetry line sums the calls of one usage group)
        sum(call_count) as telemetry_line_count,
        sum(estimated_cost) as telemetry_estimated_cost
    from telemetry_usage
    group by
        provider,
        case when consumed_unit = 'Tokens' then model end,
        usage_date,
        coalesce(price_currency, '{{ var("reporting_currency", "USD") }}')

),

billed_daily as (

    select
        provider,
        case when consumed_unit = 'Tokens' then model end as model,
        charge_date,
        billing_currency,
        sum(billed_cost) as billed_cost
    from billed
    group by
        provider,
        case when consumed_unit = 'Tokens' then model end,
        charge_date,
        billing_currency

),

keys as (

    select provider, model, charge_date, billing_currency from estimated_daily
    union
    select provider, model, charge_date, billing_currency from telemetry_daily
    union
    select provider, model, charge_date, billing_currency from billed_daily

),

joined as (

    select
        keys.provider,
        keys.model,
        keys.charge_date,
        keys.billing_currency,
        coalesce(estimated_daily.usage_line_count, 0) as usage_line_count,
        coalesce(estimated_daily.unpriced_line_count, 0) as unpriced_line_count,
        coalesce(estimated_daily.priced_quantity, 0) as priced_quantity,
        coalesce(estimated_daily.unpriced_quantity, 0) as unpriced_quantity,
        coalesce(telemetry_daily.telemetry_line_count, 0) as telemetry_line_count,
        estimated_daily.estimated_cost,
        telemetry_daily.telemetry_estimated_cost,
        billed_daily.billed_cost
    from keys
    left join estimated_daily
        on keys.provider = estimated_daily.provider
        and keys.model is not distinct from estimated_daily.model
        and keys.charge_date = estimated_daily.charge_date
        and keys.billing_currency = estimated_daily.billing_currency
    left join telemetry_daily
        on keys.provider = telemetry_daily.provider
        and keys.model is not distinct from telemetry_daily.model
        and keys.charge_date = telemetry_daily.charge_date
        and keys.billing_currency = telemetry_daily.billing_currency
    left join billed_daily
        on keys.provider = billed_daily.provider
        and keys.model is not distinct from billed_daily.model
        and keys.charge_date = billed_daily.charge_date
        and keys.billing_currency = billed_daily.billing_currency

),

final as (

    select
        {{ surrogate_key(['provider', 'model', 'charge_date', 'billing_currency']) }}
            as reconciliation_key,
        provider,
        model,
        cast(usage_line_count as bigint) as usage_line_count,
        cast(unpriced_line_count as bigint) as unpriced_line_count,
        cast(priced_quantity as bigint) as priced_quantity,
        cast(unpriced_quantity as bigint) as unpriced_quantity,
        cast(telemetry_line_count as bigint) as telemetry_line_count,
        cast(estimated_cost as {{ money_type() }}) as estimated_cost,
        cast(telemetry_estimated_cost as {{ money_type() }}) as telemetry_estimated_cost,
        cast(billed_cost as {{ money_type() }}) as billed_cost,
        cast(estimated_cost - billed_cost as {{ money_type() }}) as gap_cost,
        cast(
            (estimated_cost - billed_cost) * 100.0 / nullif(billed_cost, 0) as decimal(18, 4)
        ) as gap_percent,
        cast(telemetry_estimated_cost - billed_cost as {{ money_type() }}) as telemetry_gap_cost,
        billing_currency,
        usage_line_count > 0 as has_usage,
        billed_cost is not null as has_billed_cost,
        usage_line_count > 0 and unpriced_line_count = 0 as is_fully_priced,
        charge_date
    from joined

)

select * from final
