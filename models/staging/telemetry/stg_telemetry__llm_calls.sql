{#-
    One row per LLM call an app reported, whatever the format (docs/contracts.md, App
    telemetry). The same event id reported twice (a file copied, an exporter retrying) is
    kept once: the copy from the first file and line; `duplicate_count` says how many were
    seen. Anthropic calls with more than 200k input tokens are long-context calls
    (`context_window` 200k-1M), which the bill prices differently.
-#}

with

events as (

    select * from {{ ref('stg_telemetry__events') }}

),

spans as (

    select * from {{ ref('stg_telemetry__otlp_spans') }}

),

spend_logs as (

    select * from {{ ref('stg_telemetry__litellm_spend_logs') }}

),

unioned as (

    select
        formats.*,
        cast(formats.occurred_at as date) as event_date
    from (
        select * from events
        union all
        select * from spans
        union all
        select * from spend_logs
    ) as formats

),

ranked as (

    select
        unioned.*,
        -- a copy of an event has its timestamp too: partitioning by day as well lets a filter
        -- on event_date pass the window to the raw scans (incremental models read only the
        -- days they need)
        row_number() over (
            partition by event_date, event_id
            order by source_file, source_line_number
        ) as copy_rank,
        count(*) over (partition by event_date, event_id) as duplicate_count
    from unioned

),

final as (

    select
        -- ids
        event_id,
        source_format,
        provider,
        api_key_id,
        sub_account_id,

        -- dimensions
        model,
        service_tier,
        case
            when provider = 'anthropic'
                and input_tokens + cached_input_tokens + cache_write_5m_tokens
                + cache_write_1h_tokens > {{ var('anthropic_long_context_input_tokens', 200000) }}
                then '200k-1M'
            when provider = 'anthropic' then '0-200k'
        end as context_window,
        application,
        team,
        feature,
        prompt_template_id,
        prompt_template_version,
        conversation_id,
        end_user_id,
        status,
        latency_ms,

        -- quantities
        input_tokens,
        cached_input_tokens,
        cache_write_5m_tokens,
        cache_write_1h_tokens,
        cache_write_tokens,
        output_tokens,
        reasoning_tokens,
        web_search_requests,
        cast(duplicate_count as bigint) as duplicate_count,

        -- timestamps
        occurred_at,
        event_date,

        -- metadata
        source_file,
        source_line_number,
        load_id

    from ranked
    where copy_rank = 1

)

select * from final
