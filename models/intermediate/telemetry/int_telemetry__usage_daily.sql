{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_date',
    on_schema_change='append_new_columns',
) }}
{#-
    Reported telemetry usage per UTC day × provider × project/workspace × API key × model ×
    service tier × context window × prompt size × team × application × feature × prompt
    template (+ version) × token type: tokens, calls, and the split weight (tokens × tier ×
    context weights of seeds/telemetry_split_weights) the attribution divides a bill line by.
    It is also the telemetry feed of the pricing (int_usage__unioned).

    `context_tokens` is the call's prompt (input + cached input + cache writes) when it is
    above var `telemetry_exact_prompt_tokens_above` (100,000: no price tier starts lower,
    assert_telemetry_prompt_grouping_keeps_price_tiers), else 0: calls group by day, and the
    pricing still sees the prompt size of every call that crossed a long-context tier.
    Incremental: a build recomputes only the days stg_telemetry__llm_calls rebuilt since.
-#}

with

calls as (

    select * from {{ ref('stg_telemetry__llm_calls') }}
    {%- if is_incremental() %}
    where event_date in ({{ telemetry_days_to_rebuild(this) }})
    {%- endif %}

),

weights as (

    select * from {{ ref('telemetry_split_weights') }}

),

{%- set token_columns = [
    ('input', 'input_tokens'),
    ('cached_input', 'cached_input_tokens'),
    ('cache_write', 'cache_write_tokens'),
    ('cache_write_5m', 'cache_write_5m_tokens'),
    ('cache_write_1h', 'cache_write_1h_tokens'),
    ('output', 'output_tokens'),
    ('web_search', 'web_search_requests'),
] %}

sized as (

    select
        calls.*,
        {{ telemetry_prompt_size('calls') }} as context_tokens
    from calls

),

daily as (

    select
        provider,
        event_date,
        sub_account_id,
        api_key_id,
        model,
        service_tier,
        context_window,
        context_tokens,
        team,
        application,
        feature,
        prompt_template_id,
        prompt_template_version,
        count(*) as call_count,
        max(rebuilt_load_id) as last_load_id,
        {%- for token_type, column in token_columns %}
        sum({{ column }}) as {{ column }},
        sum(case when {{ column }} <> 0 then 1 else 0 end) as {{ token_type }}_call_count,
        {%- endfor %}
        {{ surrogate_key(telemetry_usage_group_columns()) }} as usage_group_key
    from sized
    group by
        provider,
        event_date,
        sub_account_id,
        api_key_id,
        model,
        service_tier,
        context_window,
        context_tokens,
        team,
        application,
        feature,
        prompt_template_id,
        prompt_template_version

),

by_token_type as (

    {%- for token_type, column in token_columns %}
    select
        daily.usage_group_key,
        daily.provider,
        daily.event_date,
        daily.sub_account_id,
        daily.api_key_id,
        daily.model,
        daily.service_tier,
        daily.context_window,
        daily.context_tokens,
        daily.team,
        daily.application,
        daily.feature,
        daily.prompt_template_id,
        daily.prompt_template_version,
        '{{ token_type }}' as token_type,
        daily.call_count,
        cast(daily.{{ token_type }}_call_count as bigint) as token_call_count,
        daily.last_load_id,
        cast(daily.{{ column }} as bigint) as token_quantity
    from daily
    where daily.{{ column }} <> 0
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        by_token_type.*,
        cast(
            by_token_type.token_quantity
            * coalesce(tier_weight.weight, 1)
            * coalesce(context_weight.weight, 1)
            as double precision
        ) as split_weight
    from by_token_type
    left join weights as tier_weight
        on by_token_type.provider = tier_weight.provider
        and by_token_type.service_tier = tier_weight.service_tier
        and tier_weight.context_window is null
    left join weights as context_weight
        on by_token_type.provider = context_weight.provider
        and by_token_type.context_window = context_weight.context_window
        and context_weight.service_tier is null
        and (
            context_weight.token_type is null
            or context_weight.token_type = by_token_type.token_type
        )

)

select * from final
