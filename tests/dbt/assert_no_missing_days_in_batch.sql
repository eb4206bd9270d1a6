{{ config(severity='error') }}
{#-
    Quality gate: every configured provider has cost in the fact on every UTC day of the batch.
    The batch is [TOKENLEDGER_BATCH_START, TOKENLEDGER_BATCH_END] (what `tokenledger run` or
    the Dagster partition asked for), cut at the latest day any provider has reported so far
    (today's bucket is not complete anywhere yet); providers are TOKENLEDGER_BATCH_PROVIDERS
    (comma-separated: the configured ones). Env vars rather than dbt vars, so a new batch
    re-parses two files, not the project. Without them (a plain `dbt build`): every provider
    in the fact, from the first to the last reported day. Returns the missing provider-days.
-#}
{%- set batch_start = env_var('TOKENLEDGER_BATCH_START', '') -%}
{%- set batch_end = env_var('TOKENLEDGER_BATCH_END', '') -%}
{%- set batch_providers = env_var('TOKENLEDGER_BATCH_PROVIDERS', '') | replace(' ', '') -%}
{%- set batch_providers = batch_providers.split(',') if batch_providers else none -%}

with

fact_days as (

    select distinct
        x_provider as provider,
        cast(charge_period_start as date) as charge_date
    from {{ ref('fct_cost_and_usage') }}

),

bounds as (

    select
        {% if batch_start -%}
        cast('{{ batch_start }}' as date) as first_day,
        {%- else -%}
        min(charge_date) as first_day,
        {%- endif %}
        max(charge_date) as last_day
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

batch_days as (

    select cast(series.day_at as date) as charge_date
    from bounds,
        generate_series(
            cast(bounds.first_day as timestamp),
            cast(bounds.last_day as timestamp),
            interval '1 day'
        ) as series (day_at)

),

expected as (

    select providers.provider, batch_days.charge_date
    from providers
    cross join batch_days

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
