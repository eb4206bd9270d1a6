{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_date',
    on_schema_change='append_new_columns',
) }}
{#-
    Reported calls per UTC day × provider × team × application × feature × prompt template ×
    model: requests, errors, distinct end users, latency — what unit economics divides cost
    by (conversations: fct_conversation_costs). Incremental like int_telemetry__usage_daily.
-#}

with

calls as (

    select * from {{ ref('stg_telemetry__llm_calls') }}
    where team is not null
    {%- if is_incremental() %}
        and event_date in ({{ telemetry_days_to_rebuild(this) }})
    {%- endif %}

),

final as (

    select
        event_date,
        provider,
        team,
        application,
        coalesce(feature, 'unattributed') as feature,
        coalesce(prompt_template_id, 'unattributed') as prompt_template_id,
        model,
        count(*) as request_count,
        sum(case when status = 'error' then 1 else 0 end) as error_count,
        count(distinct end_user_id) as active_end_user_count,
        avg(latency_ms) as avg_latency_ms,
        max(rebuilt_load_id) as last_load_id
    from calls
    group by
        event_date,
        provider,
        team,
        application,
        coalesce(feature, 'unattributed'),
        coalesce(prompt_template_id, 'unattributed'),
        model

)

select * from final
