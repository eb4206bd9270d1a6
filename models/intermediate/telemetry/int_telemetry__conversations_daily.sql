{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_date',
    on_schema_change='append_new_columns',
) }}
{#-
    Tagged reported calls per UTC day × usage group (int_telemetry__usage_daily.usage_group_key:
    provider, project, key, model, tier, context window, prompt size, team, application,
    feature, prompt template, version) × conversation: calls and tokens by type — what splits
    a usage group's attributed cost over its conversations (fct_conversation_costs). Calls
    reported without a conversation id form one row with a null `conversation_id`. Untagged
    calls are left out: their cost is not attributed by telemetry. Each call finds its usage
    group by its dimensions (a join with the day's few groups), so the large aggregation
    groups by two keys only. Incremental like int_telemetry__usage_daily.
-#}

{%- set group_columns = telemetry_usage_group_columns() %}

with

calls as (

    select * from {{ ref('stg_telemetry__llm_calls') }}
    where team is not null
    {%- if is_incremental() %}
        and event_date in ({{ telemetry_days_to_rebuild(this) }})
    {%- endif %}

),

usage_groups as (

    select distinct
        usage_group_key,
        {{ group_columns | join(',\n        ') }}
    from {{ ref('int_telemetry__usage_daily') }}
    where team is not null
    {%- if is_incremental() %}
        and event_date in ({{ telemetry_days_to_rebuild(this) }})
    {%- endif %}

),

sized as (

    select
        calls.*,
        {{ telemetry_prompt_size('calls') }} as context_tokens
    from calls

),

grouped_calls as (

    select
        usage_groups.usage_group_key,
        sized.*
    from sized
    inner join usage_groups
        {%- for column in group_columns %}
        {%- if column in ('provider', 'event_date', 'model', 'context_tokens', 'team') %}
        {{ 'on' if loop.first else 'and' }} sized.{{ column }} = usage_groups.{{ column }}
        {%- else %}
        {{ 'on' if loop.first else 'and' }} {{ null_safe_key('sized.' ~ column) }}
            = {{ null_safe_key('usage_groups.' ~ column) }}
        {%- endif %}
        {%- endfor %}

),

final as (

    select
        -- ids
        usage_group_key,
        conversation_id,

        -- dimensions
        event_date,

        -- quantities
        count(*) as call_count,
        sum(input_tokens) as input_tokens,
        sum(cached_input_tokens) as cached_input_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(cache_write_5m_tokens) as cache_write_5m_tokens,
        sum(cache_write_1h_tokens) as cache_write_1h_tokens,
        sum(output_tokens) as output_tokens,
        sum(web_search_requests) as web_search_requests,

        -- metadata
        max(rebuilt_load_id) as last_load_id
    from grouped_calls
    group by
        usage_group_key,
        conversation_id,
        event_date

)

select * from final
