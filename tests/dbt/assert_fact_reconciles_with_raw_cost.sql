{{ config(severity='error') }}
{#-
    Reconciliation that fails the build: Σ billed_cost in the fact per provider and UTC day
    equals Σ of the raw cost rows that can be costed (raw rows minus quarantined rows), to the
    cent. Read straight from the raw sources, not through staging, so a lost, duplicated or
    altered row anywhere downstream shows here. Returns the provider-days that differ.
-#}

with

quarantined as (

    select provider, cost_row_key from {{ ref('quarantined_cost_rows') }}

),

raw_openai as (

    select
        'openai' as provider,
        cast({{ unix_to_timestamp('costs.start_time') }} as date) as charge_date,
        {{ safe_cast_decimal('costs.amount__value') }} as billed_cost
    from ({{ select_from_source(source('raw_openai', 'costs')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'openai' and quarantined.cost_row_key = costs._row_key
    )

),

raw_anthropic as (

    select
        'anthropic' as provider,
        cast({{ rfc3339_to_timestamp('costs.starting_at') }} as date) as charge_date,
        {{ cents_to_dollars(safe_cast_decimal('costs.amount')) }} as billed_cost
    from ({{ select_from_source(source('raw_anthropic', 'cost_report')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'anthropic' and quarantined.cost_row_key = costs._row_key
    )

),

-- FOCUS rows of a service a configured dedicated source bills are not in the fact on the
-- days that source covers (int_cost__validated); everything else is
focus_coverage as (

    select
        seeds.service_name,
        min(validated.charge_date) as first_covered_date,
        max(validated.charge_date) as last_covered_date
    from {{ ref('int_cost__validated') }} as validated
    inner join {{ ref('focus_dedicated_sources') }} as seeds
        on validated.provider = seeds.dedicated_provider
    group by seeds.service_name

),

raw_focus as (

    select
        'focus' as provider,
        cast({{ rfc3339_to_timestamp('costs.charge_period_start') }} as date) as charge_date,
        {{ safe_cast_decimal('costs.billed_cost') }} as billed_cost
    from ({{ select_from_source(source('raw_focus', 'cost_and_usage')) }}) as costs
    left join focus_coverage
        on costs.service_name = focus_coverage.service_name
        and cast({{ rfc3339_to_timestamp('costs.charge_period_start') }} as date)
        between focus_coverage.first_covered_date and focus_coverage.last_covered_date
    where focus_coverage.service_name is null
        and not exists (
            select 1 from quarantined
            where quarantined.provider = 'focus' and quarantined.cost_row_key = costs._row_key
        )

),

raw_opencost as (

    -- OpenCost through its 1:1 staging view (raw numbers arrive as text, columns optional):
    -- an allocation whose amounts all parse counts its totalCost, else its priced components
    select
        'opencost' as provider,
        bucket_date as charge_date,
        {{ opencost_costed_amount() }} as billed_cost
    from {{ ref('stg_opencost__allocations') }}

),

raw_aws_bedrock as (

    select
        'aws_bedrock' as provider,
        cast(costs._bucket_date as date) as charge_date,
        cast(costs.line_item_unblended_cost as {{ money_type() }}) as billed_cost
    from (
        {{ current_delivery(source('raw_aws_bedrock', 'cur_line_items'), '_billing_period') }}
    ) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'aws_bedrock'
            and quarantined.cost_row_key
            = costs._source_file || '#' || cast(costs._source_row_number as varchar)
    )

),

raw_gcp_vertex_ai_lines as (

    select
        lines._row_key,
        cast({{ rfc3339_to_timestamp("replace(lines.usage_start_time, ' UTC', '+00:00')") }}
            as date) as charge_date,
        {{ safe_cast_decimal('lines.cost') }} as billed_cost
    from ({{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export')) }}) as lines

),

-- Google's net bill: each line's cost plus its (negative) credits
raw_gcp_vertex_ai as (

    select
        'gcp_vertex_ai' as provider,
        lines.charge_date,
        lines.billed_cost
    from raw_gcp_vertex_ai_lines as lines
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'gcp_vertex_ai' and quarantined.cost_row_key = lines._row_key
    )

    union all

    select
        'gcp_vertex_ai' as provider,
        lines.charge_date,
        {{ safe_cast_decimal('credits.amount') }} as billed_cost
    from (
        {{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export_credits')) }}
    ) as credits
    inner join raw_gcp_vertex_ai_lines as lines
        on credits.export_row_key = lines._row_key
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'gcp_vertex_ai' and quarantined.cost_row_key = credits._row_key
    )

),

raw_azure_openai as (

    select
        'azure_openai' as provider,
        cast(costs._bucket_date as date) as charge_date,
        {{ safe_cast_decimal('costs.cost') }} as billed_cost
    from ({{ select_from_source(source('raw_azure_openai', 'cost_by_meter')) }}) as costs
    where not exists (
        select 1 from quarantined
        where quarantined.provider = 'azure_openai' and quarantined.cost_row_key = costs._row_key
    )

),

raw_daily as (

    select provider, charge_date, sum(billed_cost) as raw_billed_cost
    from (
        select * from raw_openai
        union all
        select * from raw_anthropic
        union all
        select * from raw_focus
        union all
        select * from raw_opencost
        union all
        select * from raw_aws_bedrock
        union all
        select * from raw_gcp_vertex_ai
        union all
        select * from raw_azure_openai
    ) as raw_rows
    group by provider, charge_date

),

fact_daily as (

    select
        x_provider as provider,
        cast(charge_period_start as date) as charge_date,
        sum(billed_cost) as fact_billed_cost
    from {{ ref('fct_cost_and_usage') }}
    group by x_provider, cast(charge_period_start as date)

),

final as (

    select
        coalesce(raw_daily.provider, fact_daily.provider) as provider,
        coalesce(raw_daily.charge_date, fact_daily.charge_date) as charge_date,
        raw_daily.raw_billed_cost,
        fact_daily.fact_billed_cost,
        coalesce(fact_daily.fact_billed_cost, 0)
        - coalesce(raw_daily.raw_billed_cost, 0) as difference
    from raw_daily
    full outer join fact_daily
        on raw_daily.provider = fact_daily.provider
        and raw_daily.charge_date = fact_daily.charge_date

)

select * from final
where abs(difference) >= 0.005
