{#-
    Every usage feed in one long shape: one row per usage row (or telemetry usage group) ×
    token type with its quantity. The pricing model reads only this shape, so a new feed is one
    more `union all` branch here.
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

telemetry_usage as (

    select * from {{ ref('int_telemetry__usage_daily') }}

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
        cast(null as bigint) as call_count,
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
        cast(null as bigint) as call_count,
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
        cast(null as bigint) as call_count,
        cast(token_quantity as bigint) as consumed_quantity,
        consumed_unit,
        cast(bucket_start_at as date) as usage_date
    from anthropic_messages

    -- app telemetry (docs/contracts.md "App telemetry"): one line per usage group × day ×
    -- non-zero token type (int_telemetry__usage_daily: calls of one project, key, model,
    -- tier, prompt size and tags); reasoning tokens are inside output and never a line of
    -- their own (priced once, as output); context_tokens is the calls' prompt size when it
    -- can reach a long-context tier (else 0), which selects the tier exactly
    union all

    select
        'telemetry' as usage_source,
        usage_group_key as usage_row_key,
        provider,
        cast(null as varchar) as billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        service_tier as source_service_tier,
        cast(null as boolean) as is_batch,
        context_window,
        context_tokens,
        token_type as source_token_type,
        token_type,
        token_call_count as call_count,
        token_quantity as consumed_quantity,
        case when token_type = 'web_search' then 'Requests' else 'Tokens' end as consumed_unit,
        event_date as usage_date
    from telemetry_usage

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
        token_lines.call_count,
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
