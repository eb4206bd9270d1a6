{{ config(severity='error') }}
{#-
    Quality gate: every configured provider has cost in the fact on every UTC day of the batch.
    The batch is [TOKENLEDGER_BATCH_START, TOKENLEDGER_BATCH_END] (what `tokenledger run` or
    the Dagster partition asked for), from each provider's first reported day (a provider
    added later is not missing the days before it), cut at the latest day any provider has
    reported so far (today's bucket is not complete anywhere yet); providers are
    TOKENLEDGER_BATCH_PROVIDERS (comma-separated: the configured ones), read when the test
    runs (macros/batch_window.sql: a new batch re-parses nothing). Without them (a plain
    `dbt build`): every provider in the fact, whole history. Returns missing provider-days.
-#}
{%- set batch_start = batch_env('TOKENLEDGER_BATCH_START') -%}
{%- set batch_end = batch_env('TOKENLEDGER_BATCH_END') -%}
{%- set batch_providers = batch_env('TOKENLEDGER_BATCH_PROVIDERS') | replace(' ', '') -%}
{%- set batch_providers = batch_providers.split(',') if batch_providers else none -%}

with

fact_days as (

    select distinct
        x_provider as provider,
        cast(charge_period_start as date) as charge_date
    from {{ ref('fct_cost_and_usage') }}

),

provider_first_days as (

    select provider, min(charge_date) as first_day
    from fact_days
    group by provider

),

last_reported as (

    select max(charge_date) as last_day
    from fact_days
    {% if batch_end -%}
    where charge_date <= cast('{{ batch_end }}' as date)
    {%- endif %}

),

providers as (

    {% if batch_providers is not none and batch_providers | length > 0 -%}
    {%- for provider in batch_providers %}
    select cast('{{ provider }}' as varchar) as provider
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
    {%- else -%}
    select distinct provider from fact_days
    {%- endif %}

),

ranges as (

    -- a provider's history starts at its first reported day (one added later is not missing
    -- the days before it); one with no cost at all yet expects nothing
    select
        providers.provider,
        {% if batch_start -%}
        greatest(provider_first_days.first_day, cast('{{ batch_start }}' as date))
        {%- else -%}
        provider_first_days.first_day
        {%- endif %} as first_day,
        last_reported.last_day
    from providers
    inner join provider_first_days
        on providers.provider = provider_first_days.provider
    cross join last_reported

),

expected as (

    select
        ranges.provider,
        cast(series.day_at as date) as charge_date
    from ranges,
        generate_series(
            cast(ranges.first_day as timestamp),
            cast(ranges.last_day as timestamp),
            interval '1 day'
        ) as series (day_at)

),

final as (

    select expected.provider, expected.charge_date
    from expected
    left join fact_days
        on expected.provider = fact_days.provider
        and expected.charge_date = fact_days.charge_date
    where fact_days.provider is null

)

select * from final
