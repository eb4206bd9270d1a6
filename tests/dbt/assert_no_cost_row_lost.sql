{{ config(severity='error') }}
{#-
    No silent loss: per provider, the raw cost rows the fact aggregates (x_source_row_count)
    plus the quarantined rows equal the raw row count. Returns the providers that disagree.
-#}

with

raw_count_parts as (

    select 'openai' as provider, count(*) as raw_rows
    from ({{ select_from_source(source('raw_openai', 'costs')) }}) as raw_rows
    union all
    select 'anthropic' as provider, count(*) as raw_rows
    from ({{ select_from_source(source('raw_anthropic', 'cost_report')) }}) as raw_rows
    union all
    -- exported lines, plus the credits of lines that still exist (a credit whose line a
    -- re-export removed is not a charge any more)
    select 'gcp_vertex_ai' as provider, count(*) as raw_rows
    from ({{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export')) }}) as raw_rows
    union all
    select 'gcp_vertex_ai' as provider, count(*) as raw_rows
    from (
        {{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export_credits')) }}
    ) as credits
    where exists (
        select 1
        from ({{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export')) }}) as lines
        where lines._row_key = credits.export_row_key
    )
    union all
    select 'azure_openai' as provider, count(*) as raw_rows
    from ({{ select_from_source(source('raw_azure_openai', 'cost_by_meter')) }}) as raw_rows

),

raw_counts as (

    select provider, sum(raw_rows) as raw_rows
    from raw_count_parts
    group by provider

),

fact_counts as (

    select x_provider as provider, sum(x_source_row_count) as fact_rows
    from {{ ref('fct_cost_and_usage') }}
    group by x_provider

),

quarantine_counts as (

    select provider, count(*) as quarantined_rows
    from {{ ref('quarantined_cost_rows') }}
    group by provider

),

final as (

    select
        raw_counts.provider,
        raw_counts.raw_rows,
        coalesce(fact_counts.fact_rows, 0) as fact_rows,
        coalesce(quarantine_counts.quarantined_rows, 0) as quarantined_rows
    from raw_counts
    left join fact_counts on raw_counts.provider = fact_counts.provider
    left join quarantine_counts on raw_counts.provider = quarantine_counts.provider

)

select * from final
where raw_rows <> fact_rows + quarantined_rows
