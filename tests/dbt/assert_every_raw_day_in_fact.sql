{{ config(severity='error') }}
{#-
    Every (provider, UTC day) with a raw cost row that can be costed is present in the fact.
    A day whose every row is quarantined is the only day allowed to be absent (it is visible
    in quarantine.quarantined_cost_rows instead). Returns the missing provider-days.
-#}

with

quarantined as (

    select provider, cost_row_key from {{ ref('quarantined_cost_rows') }}

),

raw_days as (

    select distinct
        'openai' as provider,
        cast({{ unix_to_timestamp('costs.start_time') }} as date) as charge_date
    from ({{ select_from_source(source('raw_openai', 'costs')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'openai' and quarantined.cost_row_key = costs._row_key
    )

    union

    select distinct
        'focus' as provider,
        cast({{ rfc3339_to_timestamp('costs.charge_period_start') }} as date) as charge_date
    from ({{ select_from_source(source('raw_focus', 'cost_and_usage')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'focus' and quarantined.cost_row_key = costs._row_key
    )
        -- a day whose only rows a dedicated source bills instead may be absent
        and not exists (
            select 1 from {{ ref('focus_dedicated_sources') }} as seeds
            where seeds.service_name = costs.service_name
        )

    union

    select distinct
        'anthropic' as provider,
        cast({{ rfc3339_to_timestamp('costs.starting_at') }} as date) as charge_date
    from ({{ select_from_source(source('raw_anthropic', 'cost_report')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'anthropic' and quarantined.cost_row_key = costs._row_key
    )


    union

    -- OpenCost through its 1:1 staging view (numbers arrive as text, columns optional)
    select distinct
        'opencost' as provider,
        bucket_date as charge_date
    from {{ ref('stg_opencost__allocations') }}
    where {{ opencost_costed_amount() }} <> 0

    union

    select distinct
        'gcp_vertex_ai' as provider,
        cast({{ rfc3339_to_timestamp("replace(costs.usage_start_time, ' UTC', '+00:00')") }}
            as date) as charge_date
    from ({{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'gcp_vertex_ai' and quarantined.cost_row_key = costs._row_key
    )

    union

    select distinct
        'azure_openai' as provider,
        cast(costs._bucket_date as date) as charge_date
    from ({{ select_from_source(source('raw_azure_openai', 'cost_by_meter')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'azure_openai' and quarantined.cost_row_key = costs._row_key
    )

),

fact_days as (

    select distinct
        x_provider as provider,
        cast(charge_period_start as date) as charge_date
    from {{ ref('fct_cost_and_usage') }}

)

select raw_days.*
from raw_days
left join fact_days
    on raw_days.provider = fact_days.provider
    and raw_days.charge_date = fact_days.charge_date
where fact_days.provider is null
