{#-
    Every usage feed in one long shape: one row per usage row (or telemetry event) × token
    type with its quantity. The pricing model reads only this shape, so a new feed is one more
    `union all` branch here.
-#}

with

openai_completions as (

    select * from {{ ref('stg_openai__usage_completions') }}

),

openai_embeddings as (

    select * from {{ ref('stg_openai__usage_embeddings') }}

),

anthropic_messages as (

    select * from {{ ref('stg_anthropic__usage_messages') }}

),

service_tier_map as (

    select * from {{ ref('service_tier_map') }}

),

context_window_map as (

    select * from {{ ref('context_window_map') }}

),

telemetry_calls as (

    select * from {{ ref('stg_telemetry__llm_calls') }}

),

token_lines as (

    select
        'openai_usage_completions' as usage_source,
        usage_row_key,
        'openai' as provider,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        service_tier as source_service_tier,
        is_batch,
        cast(null as varchar) as context_window,
        cast(null as bigint) as context_tokens,
        source_token_type,
        token_type,
        cast(token_quantity as bigint) as consumed_quantity,
        consumed_unit,
        cast(bucket_start_at as date) as usage_date
    from openai_completions

    union all

    select
        'openai_usage_embeddings' as usage_source,
        usage_row_key,
        'openai' as provider,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        cast(null as varchar) as source_service_tier,
        false as is_batch,
        cast(null as varchar) as context_window,
        cast(null as bigint) as context_tokens,
        source_token_type,
        token_type,
        cast(token_quantity as bigint) as consumed_quantity,
        consumed_unit,
        cast(bucket_start_at as date) as usage_date
    from openai_embeddings

    union all

    select
        'anthropic_usage_messages' as usage_source,
        usage_row_key,
        'anthropic' as provider,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        service_tier as source_service_tier,
        cast(null as boolean) as is_batch,
        context_window,
        cast(null as bigint) as context_tokens,
        source_token_type,
        token_type,
        cast(token_quantity as bigint) as consumed_quantity,
        consumed_unit,
        cast(bucket_start_at as date) as usage_date
    from anthropic_messages

    -- app telemetry (docs/contracts.md "App telemetry"): one line per event × non-zero
    -- token count; reasoning_tokens are inside output_tokens and never a line of their own
    -- (priced once, as output); context_tokens is the call's whole prompt (uncached + cached
    -- + cache writes), which selects a long-context tier exactly
    {%- set telemetry_counts = {
        'input_tokens': 'input', 'cached_input_tokens': 'cached_input',
        'cache_write_5m_tokens': 'cache_write_5m', 'cache_write_1h_tokens': 'cache_write_1h',
        'cache_write_tokens': 'cache_write', 'output_tokens': 'output',
        'web_search_requests': 'web_search',
    } %}
    {%- for column, token_type in telemetry_counts.items() %}
    union all
    select
        'telemetry' as usage_source,
        event_id as usage_row_key,
        provider,
        cast(null as varchar) as billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        service_tier as source_service_tier,
        cast(null as boolean) as is_batch,
        context_window,
        cast(
            coalesce(input_tokens, 0) + coalesce(cached_input_tokens, 0)
            + coalesce(cache_write_5m_tokens, 0) + coalesce(cache_write_1h_tokens, 0)
            + coalesce(cache_write_tokens, 0) as bigint
        ) as context_tokens,
        '{{ column }}' as source_token_type,
        '{{ token_type }}' as token_type,
        cast({{ column }} as bigint) as consumed_quantity,
        '{{ 'Requests' if token_type == 'web_search' else 'Tokens' }}' as consumed_unit,
        event_date as usage_date
    from telemetry_calls
    where coalesce({{ column }}, 0) <> 0
    {%- endfor %}

),

final as (

    select
        {{ surrogate_key(['token_lines.usage_source', 'token_lines.usage_row_key',
            'token_lines.source_token_type']) }} as usage_line_id,
        token_lines.usage_source,
        token_lines.usage_row_key,
        token_lines.provider,
        token_lines.billing_account_id,
        token_lines.sub_account_id,
        token_lines.api_key_id,
        token_lines.model,
        token_lines.source_service_tier,
        -- batch is a flag on OpenAI usage and a tier on Anthropic's; a row that states no
        -- tier is on the standard one
        case
            when token_lines.is_batch then 'batch'
            when token_lines.source_service_tier is null then 'standard'
            else service_tier_map.service_tier
        end as service_tier,
        token_lines.context_window,
        -- prompt size that selects a long-context tier; an unknown window label stays null
        -- (the line is then unpriced, never priced at the base tier by mistake)
        case
            when token_lines.context_tokens is not null then token_lines.context_tokens
            when token_lines.context_window is null then 0
            else context_window_map.context_tokens
        end as context_tokens,
        token_lines.source_token_type,
        token_lines.token_type,
        token_lines.consumed_quantity,
        token_lines.consumed_unit,
        token_lines.usage_date
    from token_lines
    left join service_tier_map
        on token_lines.provider = service_tier_map.provider
        and token_lines.source_service_tier = service_tier_map.source_service_tier
    left join context_window_map
        on token_lines.provider = context_window_map.provider
        and token_lines.context_window = context_window_map.context_window

)

select * from final
