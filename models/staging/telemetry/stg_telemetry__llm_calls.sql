{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_date',
    on_schema_change='append_new_columns',
    pre_hook="{{ without_shared_subplans() if is_incremental() }}",
    post_hook="{{ with_shared_subplans() if is_incremental() }}",
) }}
{#-
    One row per LLM call an app reported, whatever the format (docs/contracts.md, App
    telemetry). Built once and kept (incremental): a build recomputes only the UTC days that
    calls loaded since the last build touch (telemetry_raw_batch), and every model downstream
    reads this table instead of re-deriving it.

    A file read again is a newer version (`load_id`) of all its calls: only the newest version
    of each file counts (ingestion deletes the older one after its load; until then it is
    skipped here). The same event id reported twice (a file copied, an exporter retrying) is
    kept once: the copy from the first file and line; `duplicate_count` says how many were
    seen. Anthropic calls with more than 200k input tokens are long-context calls
    (`context_window` 200k-1M), which the bill prices differently. `rebuilt_load_id` marks the
    build that last wrote the row's day, for the incremental models downstream.
-#}

{%- set batch = telemetry_raw_batch(this if is_incremental() else none) %}

-- every CTE below that is read twice is `not materialized`: the engine re-reads the raw
-- columns it needs instead of writing a copy of every call first; only one read computes
-- every column of every call (the others read the few columns the dedup needs)

with

events as not materialized (

    select * from {{ ref('stg_telemetry__events') }}

),

spans as not materialized (

    select * from {{ ref('stg_telemetry__otlp_spans') }}

),

spend_logs as not materialized (

    select * from {{ ref('stg_telemetry__litellm_spend_logs') }}

),

-- the newest version of each file (a cheap scan of two columns)
file_versions as (

    select
        source_file,
        max(load_id) as newest_load_id
    from (
        select source_file, load_id from events
        union all
        select source_file, load_id from spans
        union all
        select source_file, load_id from spend_logs
    ) as loads
    {%- if is_incremental() and batch.files is not none %}
    where source_file in ({{ batch.files }})
    {%- endif %}
    group by source_file

),

current_calls as not materialized (

    select
        formats.*,
        cast(formats.occurred_at as date) as event_date,
        {{ hash_to_bigint('formats.event_id') }} as copy_key
    from (
        select * from events
        union all
        select * from spans
        union all
        select * from spend_logs
    ) as formats
    inner join file_versions
        on formats.source_file = file_versions.source_file
        and formats.load_id = file_versions.newest_load_id
    {%- if is_incremental() %}
    where cast(formats.occurred_at as date) in ({{ batch.days }})
        {%- if batch.files is not none %}
        and formats.source_file in ({{ batch.files }})
        {%- endif %}
    {%- endif %}

),

-- event ids reported more than once are found by a 64-bit hash of the id (a cheap count of
-- one column); only those calls are ranked, exactly, by day and id, on their keys alone
copy_keys as (

    select copy_key
    from current_calls
    group by copy_key
    having count(*) > 1

),

copies as (

    select
        current_calls.source_row_key,
        -- a copy of an event has its timestamp too, so copies share the day as well
        row_number() over (
            partition by current_calls.event_date, current_calls.event_id
            order by
                current_calls.source_file,
                current_calls.source_line_number,
                current_calls.source_row_key
        ) as copy_rank,
        count(*) over (
            partition by current_calls.event_date, current_calls.event_id
        ) as duplicate_count
    from current_calls
    inner join copy_keys
        on current_calls.copy_key = copy_keys.copy_key

),

-- one pass over the calls: each keeps its first copy only (most calls have no copy)
ranked as (

    select
        current_calls.*,
        coalesce(copies.duplicate_count, 1) as duplicate_count
    from current_calls
    left join copies
        on current_calls.source_row_key = copies.source_row_key
    where coalesce(copies.copy_rank, 1) = 1

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
        load_id,
        cast(
            {{ "'" ~ batch.newest_load_id ~ "'" if batch.newest_load_id else 'null' }}
            as {{ dbt.type_string() }}
        ) as rebuilt_load_id

    from ranked

)

select * from final
