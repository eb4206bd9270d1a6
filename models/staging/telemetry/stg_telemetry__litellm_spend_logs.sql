{#-
    LiteLLM spend logs: one row per proxied request, contract columns. LiteLLM's
    `prompt_tokens` counts all input (OpenAI style), so uncached input = prompt − cache read
    − cache creation. `api_key` is LiteLLM's hashed virtual key, not the provider's key: the
    provider key id and tags come from `metadata.spend_logs_metadata`; the team from the
    virtual key's team alias (else the tag). LiteLLM's own `spend` estimate is not used.
-#}

with

source as (

    {{ select_from_source(source('raw_telemetry', 'litellm_spend_logs')) }}

),

renamed as (

    select
        request_id as event_id,
        lower(custom_llm_provider) as provider,
        metadata__spend_logs_metadata__provider_api_key_id as api_key_id,
        metadata__spend_logs_metadata__provider_sub_account_id as sub_account_id,
        model,
        metadata__spend_logs_metadata__service_tier as service_tier,
        metadata__spend_logs_metadata__application as application,
        coalesce(metadata__user_api_key_team_alias, metadata__spend_logs_metadata__team)
            as team,
        metadata__spend_logs_metadata__feature as feature,
        metadata__spend_logs_metadata__prompt_template_id as prompt_template_id,
        metadata__spend_logs_metadata__prompt_template_version as prompt_template_version,
        metadata__spend_logs_metadata__conversation_id as conversation_id,
        nullif(end_user, '') as end_user_id,
        status,
        {{ rfc3339_to_timestamp('start_time') }} as started_at,
        {{ rfc3339_to_timestamp('end_time') }} as ended_at,
        coalesce(metadata__usage_object__prompt_tokens, prompt_tokens, 0) as prompt_tokens,
        coalesce(
            metadata__usage_object__cache_read_input_tokens,
            metadata__usage_object__prompt_tokens_details__cached_tokens,
            0
        ) as cache_read_tokens,
        coalesce(metadata__usage_object__cache_creation_input_tokens, 0) as cache_creation_tokens,
        coalesce(
            metadata__usage_object__cache_creation_1h_input_tokens, 0
        ) as cache_creation_1h_tokens,
        coalesce(metadata__usage_object__completion_tokens, completion_tokens, 0)
            as output_tokens,
        coalesce(metadata__usage_object__reasoning_tokens, 0)
            as reasoning_tokens,
        coalesce(metadata__usage_object__server_tool_use__web_search_requests, 0)
            as web_search_requests,
        _source_file,
        _line_number,
        _loaded_at,
        _row_key
    from source

),

final as (

    select
        -- ids
        event_id,
        'litellm' as source_format,
        provider,
        api_key_id,
        sub_account_id,

        -- dimensions
        model,
        service_tier,
        application,
        team,
        feature,
        prompt_template_id,
        prompt_template_version,
        conversation_id,
        end_user_id,
        case when lower(status) in ('failure', 'error') then 'error' else 'ok' end as status,
        cast(
            {{ dbt.datediff('started_at', 'ended_at', 'millisecond') }} as bigint
        ) as latency_ms,

        -- quantities
        cast(prompt_tokens - cache_read_tokens - cache_creation_tokens as bigint)
            as input_tokens,
        cast(cache_read_tokens as bigint) as cached_input_tokens,
        cast(
            case when provider = 'anthropic'
                then cache_creation_tokens - cache_creation_1h_tokens else 0 end
            as bigint
        ) as cache_write_5m_tokens,
        cast(case when provider = 'anthropic' then cache_creation_1h_tokens else 0 end as bigint)
            as cache_write_1h_tokens,
        cast(case when provider = 'anthropic' then 0 else cache_creation_tokens end as bigint)
            as cache_write_tokens,
        cast(output_tokens as bigint) as output_tokens,
        cast(reasoning_tokens as bigint) as reasoning_tokens,
        cast(web_search_requests as bigint) as web_search_requests,

        -- timestamps
        started_at as occurred_at,

        -- metadata
        _source_file as source_file,
        _line_number as source_line_number,
        _loaded_at as load_id,
        _row_key as source_row_key

    from renamed

)

select * from final
