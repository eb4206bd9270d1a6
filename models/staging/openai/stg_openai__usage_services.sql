{#-
    OpenAI usage of every metered service beyond completions and embeddings, one row per raw
    usage row of its endpoint (images, audio speeches, audio transcriptions, moderations,
    vector stores, code interpreter sessions, file search calls, web search calls), in one
    shape: the billable count as `consumed_quantity` in the conformed unit of its token type.
    The label is `<endpoint>.<field>` of the counted field (seeds/token_type_map). Vector
    store bytes of a daily bucket are GiB-days (bytes ÷ 2^30; the ingestion asks for 1d).
-#}
{%- set services = [
    ('images', 'images', 'images'),
    ('audio_speeches', 'characters', 'characters'),
    ('audio_transcriptions', 'seconds', 'seconds'),
    ('moderations', 'num_model_requests', 'num_model_requests'),
    ('vector_stores', 'usage_bytes',
        'cast(usage_bytes as ' ~ money_type() ~ ') / 1073741824'),
    ('code_interpreter_sessions', 'num_sessions', 'num_sessions'),
    ('file_search_calls', 'num_requests', 'num_requests'),
    ('web_search_calls', 'num_requests', 'num_requests'),
] -%}

with

{% for endpoint, field, quantity in services %}
{%- set raw = ('raw_openai', 'usage_' ~ endpoint) %}
source_{{ endpoint }} as (

    select
        _row_key as usage_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'project_id', 'varchar') }} as sub_account_id,
        {{ source_column(raw, 'user_id', 'varchar') }} as user_id,
        {{ source_column(raw, 'api_key_id', 'varchar') }} as api_key_id,
        '{{ endpoint }}' as usage_endpoint,
        {{ source_column(raw, 'model', 'varchar') }} as model,
        {{ source_column(raw, 'size', 'varchar') }} as image_size,
        {{ source_column(raw, 'source', 'varchar') }} as image_source,
        {{ source_column(raw, 'vector_store_id', 'varchar') }} as vector_store_id,
        {{ source_column(raw, 'context_level', 'varchar') }} as context_level,
        '{{ endpoint }}.{{ field }}' as source_token_type,
        cast({{ quantity }} as {{ money_type() }}) as consumed_quantity,
        cast({{ source_column(raw, 'num_model_requests', 'bigint') }} as bigint)
            as num_model_requests,
        {{ unix_to_timestamp('start_time') }} as bucket_start_at,
        {{ unix_to_timestamp('end_time') }} as bucket_end_at,
        cast(_bucket_date as date) as bucket_date
    from ({{ select_from_source(source('raw_openai', 'usage_' ~ endpoint)) }}) as landed

),

{% endfor %}

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'openai'

),

unioned as (

    {% for endpoint, _, _ in services %}
    select * from source_{{ endpoint }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        unioned.usage_row_key,
        unioned.billing_account_id,
        unioned.sub_account_id,
        unioned.user_id,
        unioned.api_key_id,
        unioned.usage_endpoint,
        unioned.model,
        unioned.image_size,
        unioned.image_source,
        unioned.vector_store_id,
        unioned.context_level,
        unioned.source_token_type,
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        unioned.consumed_quantity,
        token_type_map.consumed_unit,
        unioned.num_model_requests,
        unioned.bucket_start_at,
        unioned.bucket_end_at,
        unioned.bucket_date
    from unioned
    left join token_type_map
        on unioned.source_token_type = token_type_map.source_token_type

)

select * from final
