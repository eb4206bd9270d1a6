{#- Plain tokenledger JSONL events: one row per reported LLM call, contract columns. -#}

with

source as (

    {{ select_from_source(source('raw_telemetry', 'llm_call_events')) }}

),

final as (

    select
        -- ids
        event_id,
        'jsonl' as source_format,
        lower(provider) as provider,
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
        case when lower(status) in ('error', 'failure', 'failed') then 'error' else 'ok' end
            as status,
        cast(latency_ms as bigint) as latency_ms,

        -- quantities
        cast(coalesce(usage__input_tokens, 0) as bigint) as input_tokens,
        cast(coalesce(usage__cached_input_tokens, 0) as bigint) as cached_input_tokens,
        cast(coalesce(usage__cache_write_5m_tokens, 0) as bigint) as cache_write_5m_tokens,
        cast(coalesce(usage__cache_write_1h_tokens, 0) as bigint) as cache_write_1h_tokens,
        cast(coalesce(usage__cache_write_tokens, 0) as bigint) as cache_write_tokens,
        cast(coalesce(usage__output_tokens, 0) as bigint) as output_tokens,
        cast(coalesce(usage__reasoning_tokens, 0) as bigint) as reasoning_tokens,
        cast(coalesce(usage__web_search_requests, 0) as bigint) as web_search_requests,

        -- timestamps
        {{ rfc3339_to_timestamp('occurred_at') }} as occurred_at,

        -- metadata
        _source_file as source_file,
        _line_number as source_line_number,
        _loaded_at as load_id,
        _row_key as source_row_key

    from source

)

select * from final
