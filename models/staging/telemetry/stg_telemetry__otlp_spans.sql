{#-
    OpenTelemetry GenAI spans: one row per LLM-call span, contract columns. OTLP's
    `gen_ai.usage.input_tokens` counts all input (cache reads and writes included), so the
    uncached input is what remains after the cache attributes; Anthropic cache writes split
    into 1h (tokenledger attribute) and 5m (the rest), OpenAI's have no TTL.
-#}

with

source as (

    {{ select_from_source(source('raw_telemetry', 'otlp_spans')) }}

),

renamed as (

    select
        coalesce(gen_ai__response__id, trace_id || ':' || span_id) as event_id,
        lower(coalesce(gen_ai__provider__name, gen_ai__system)) as provider,
        tokenledger__api_key_id as api_key_id,
        tokenledger__sub_account_id as sub_account_id,
        coalesce(gen_ai__response__model, gen_ai__request__model) as model,
        tokenledger__service_tier as service_tier,
        coalesce(tokenledger__application, resource__service__name) as application,
        tokenledger__team as team,
        tokenledger__feature as feature,
        tokenledger__prompt_template__id as prompt_template_id,
        tokenledger__prompt_template__version as prompt_template_version,
        gen_ai__conversation__id as conversation_id,
        coalesce(user__id, enduser__id) as end_user_id,
        status__code,
        start_time_unix_nano,
        end_time_unix_nano,
        coalesce(gen_ai__usage__input_tokens, 0) as all_input_tokens,
        coalesce(gen_ai__usage__cache_read__input_tokens, 0) as cache_read_tokens,
        coalesce(gen_ai__usage__cache_creation__input_tokens, 0) as cache_creation_tokens,
        coalesce(tokenledger__usage__cache_creation__ephemeral_1h_input_tokens, 0)
            as cache_creation_1h_tokens,
        coalesce(gen_ai__usage__output_tokens, 0) as output_tokens,
        coalesce(gen_ai__usage__reasoning_tokens, 0) as reasoning_tokens,
        coalesce(tokenledger__usage__web_search_requests, 0) as web_search_requests,
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
        'otlp' as source_format,
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
        case when status__code = 2 then 'error' else 'ok' end as status,
        cast((end_time_unix_nano - start_time_unix_nano) / 1000000 as bigint) as latency_ms,

        -- quantities
        cast(all_input_tokens - cache_read_tokens - cache_creation_tokens as bigint)
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
        {{ unix_to_timestamp('start_time_unix_nano / 1000000000') }} as occurred_at,

        -- metadata
        _source_file as source_file,
        _line_number as source_line_number,
        _loaded_at as load_id,
        _row_key as source_row_key

    from renamed

)

select * from final
