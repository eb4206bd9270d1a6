{{ config(severity='error') }}
{#-
    Quality gate: no provider-day of the batch arrives with less than var volume_drop_ratio
    (default 0.5) of its usual number of raw cost rows. "Usual" is the median row count of the
    same weekday over the trailing four weeks (quiet weekends are compared with weekends), and
    needs at least two such days (a new provider has no baseline yet). Rows counted are raw
    cost rows (sum of x_source_row_count). The batch is [TOKENLEDGER_BATCH_START,
    TOKENLEDGER_BATCH_END]; without them every day is checked. Returns the dropped days.
-#}
{%- set batch_start = batch_env('TOKENLEDGER_BATCH_START') -%}
{%- set batch_end = batch_env('TOKENLEDGER_BATCH_END') -%}
{%- set ratio = var('volume_drop_ratio', 0.5) -%}

with

daily as (

    select
        x_provider as provider,
        cast(charge_period_start as date) as charge_date,
        sum(x_source_row_count) as row_count
    from {{ ref('fct_cost_and_usage') }}
    group by x_provider, cast(charge_period_start as date)

),

checked as (

    select * from daily
    where 1 = 1
        {% if batch_start %}and charge_date >= cast('{{ batch_start }}' as date){% endif %}
        {% if batch_end %}and charge_date <= cast('{{ batch_end }}' as date){% endif %}

),

baseline as (

    select
        checked.provider,
        checked.charge_date,
        checked.row_count,
        count(history.row_count) as history_days,
        percentile_cont(0.5) within group (order by history.row_count) as median_row_count
    from checked
    inner join daily as history
        on checked.provider = history.provider
        and history.charge_date < checked.charge_date
        and history.charge_date >= checked.charge_date - 28
        and extract(dow from history.charge_date) = extract(dow from checked.charge_date)
    group by checked.provider, checked.charge_date, checked.row_count

),

final as (

    select
        provider,
        charge_date,
        row_count,
        median_row_count,
        history_days
    from baseline
    where history_days >= 2
        and row_count < {{ ratio }} * median_row_count

)

select * from final
